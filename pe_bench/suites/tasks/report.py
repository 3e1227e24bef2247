"""How the tasks suite reports its rows: the terminal table, its columns of the summary and the
claims those columns make, tested across seeds; and, with ``--tensorboard``, its scalars.

Every accuracy is a mean over the seeds run, shown as mean ± the half-width of its 95 % interval
(stats.py); with one seed, the mean alone. A model (encoding, variant, task, seed) that did not
learn its task at L is left out of the means past L; a row none of whose seeds learned the task
says "not learned".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from rich.console import Group
from rich.table import Table

from pe_bench.results.claims import Claim
from pe_bench.results.schema import Schema
from pe_bench.results.summary import SummaryPart, plus_minus, seeds_label
from pe_bench.results.tables import is_true
from pe_bench.stats import ONE_SEED, interval
from pe_bench.suites.tasks.generators import TASKS
from pe_bench.tensorboard import Scalar, run_name

NOT_LEARNED = "not learned"
UNSUPPORTED = "unsupported"  # no model could be built (a schedule deeper than the tasks' model): nothing to learn


def headline_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of each task's headline depths (``Task.headline``; all of a task without one)."""
    keep = pd.Series(True, index=df.index)
    for name, task in TASKS.items():
        if task.headline is not None:
            keep &= (df["task"] != name) | df["depth"].astype(str).isin(task.headline)
    return df[keep]


def by_length(df: pd.DataFrame, per_seed: bool = False) -> pd.DataFrame:
    """Accuracy per (encoding, variant, task, eval_len), averaged over the headline depths and, unless
    ``per_seed``, over seeds; unsupported rows NaN; learned only where every seed learned."""
    df = headline_rows(df)
    df = df.assign(accuracy=df["accuracy"].where(is_true(df["supported"])))
    keys = ["encoding", "variant", "task", "train_len", "eval_len", *(["seed"] if per_seed else [])]
    return (df.groupby(keys, sort=False, dropna=False)
            .agg(accuracy=("accuracy", lambda s: s.mean() if s.notna().all() else math.nan),
                 learned=("learned", lambda s: bool(is_true(s).all())),
                 supported=("supported", lambda s: bool(is_true(s).any())))
            .reset_index())


def _seeds_note(df: pd.DataFrame) -> str:
    seeds = sorted(int(s) for s in df["seed"].dropna().unique())
    return ONE_SEED if len(seeds) <= 1 else f"mean ± 95 % interval over {len(seeds)} seeds ({', '.join(map(str, seeds))})"


def _mean_cell(values: pd.Series) -> str:
    """Mean ± 95 % half-width of one length's per-seed accuracies; n/a when none."""
    result = interval(values.to_numpy(dtype=float))
    return "n/a" if not result.n else plus_minus(result.mean, result.half_width)


def render(tables: dict[str, pd.DataFrame]) -> Group:
    """Accuracy per evaluation length, one table per task; a model that did not learn the task says so."""
    df = tables.get("tasks", pd.DataFrame())
    parts = []
    if not len(df):
        return Group()
    for task, rows in by_length(df, per_seed=True).groupby("task", sort=False):
        lengths = sorted(rows["eval_len"].unique())
        train_len = int(rows["train_len"].iloc[0])
        table = Table(title=f"{task}: accuracy, trained at lengths up to L = {train_len}"
                            + _depths_note(str(task))
                            + f"; {_seeds_note(rows)}")
        table.add_column("encoding / variant")
        for length in lengths:
            table.add_column(f"{length} ({length // train_len}L)", justify="right")
        table.add_column("at L")
        for variant, group in rows.groupby("variant", sort=False):
            group = group.drop_duplicates(["eval_len", "seed"], keep="last")
            seeds = group["seed"].nunique()
            learned = group[group["learned"]]
            shown = learned if len(learned) else group  # a model not learned: its accuracies, marked so
            cells = [_mean_cell(shown.loc[shown["eval_len"] == n, "accuracy"]) for n in lengths]
            verdict = ("learned" if learned["seed"].nunique() == seeds else
                       UNSUPPORTED if not group["supported"].any() else
                       NOT_LEARNED if not len(learned) else f"learned by {learned['seed'].nunique()} of {seeds} seeds")
            table.add_row(str(variant), *cells, verdict)
        parts.append(table)
    return Group(*parts)


def _depths_note(task: str) -> str:
    """What a task's accuracy is a mean of, where it has depths."""
    spec = TASKS.get(task)
    if spec is None or not spec.depths:
        return ""
    return " (mean of the depths)" if spec.headline is None else f" ({', '.join(spec.headline)} mix)"


def per_seed(tables: Mapping[str, pd.DataFrame], name: str, task: str, factor: int = 4) -> pd.Series:
    """The plain encoding's accuracy on ``task`` at ``factor`` x L, one value per seed that learned
    the task (indexed by seed); empty where there is none."""
    df = tables.get("tasks")
    if df is None or not len(df):
        return pd.Series(dtype=float)
    rows = by_length(df[(df["encoding"] == name) & (df["variant"] == name) & (df["task"] == task)], per_seed=True)
    rows = rows[rows["learned"] & (rows["eval_len"] == factor * rows["train_len"])]
    return rows.drop_duplicates("seed", keep="last").set_index("seed")["accuracy"].astype(float).dropna()


def summarize(tables: Mapping[str, pd.DataFrame], name: str) -> dict[str, Any]:
    """Per task, the plain encoding's accuracy at 4L (mean and 95 % half-width over the seeds that
    learned it); 'not learned' where no seed learned the task at L; and the number of seeds."""
    df = tables.get("tasks")
    if df is None or not len(df):
        return {}
    mine = df[(df["encoding"] == name) & (df["variant"] == name)]
    row: dict[str, Any] = {}
    for task in TASKS:
        rows = mine[mine["task"] == task]
        if not len(rows):
            continue
        row["tasks_seeds"] = max(row.get("tasks_seeds", 0), int(rows["seed"].nunique()))
        result = interval(per_seed(tables, name, task).to_numpy())
        if not result.n:
            row[f"{task}_4L"] = UNSUPPORTED if not is_true(rows["supported"]).any() else NOT_LEARNED
        else:
            row[f"{task}_4L"], row[f"{task}_4L_ci95"] = result.mean, result.half_width
    return row


def _show(column: str):  # noqa: ANN202
    def cell(r: Mapping[str, Any]) -> str:
        value = r[column]
        if value is None or isinstance(value, str):
            return value or ""
        return plus_minus(value, r[f"{column}_ci95"])
    return cell


CLAIMS = tuple(Claim(f"{task} accuracy at 4L", lambda tables, name, task=task: per_seed(tables, name, task),
                     lower_is_better=False) for task in TASKS)

SUMMARY = SummaryPart(
    columns=(*(c for task in TASKS for c in (f"{task}_4L", f"{task}_4L_ci95")), "tasks_seeds"),
    compute=summarize,
    display=(*((f"{task} 4L", _show(f"{task}_4L")) for task in TASKS),
             ("task seeds", lambda r: seeds_label(r["tasks_seeds"]))),
    legend="Task accuracy at 4L, four times the task's training length (passkey: mean of the depths; copy: whole "
           "string exact; recall: per query; flipflop: per read, on the training mix), the mean over the seeds that learned the task ± the half-width of its "
           "95 % interval (the mean alone with one seed); *not learned*: accuracy at L below 0.9 for every seed, so "
           "no length generalization can be read from it.",
    claims=CLAIMS,
)


def board_run(encoding: str, variant: str, task: str, seed: int) -> str:
    """The TensorBoard run of one model: its training and its evaluation."""
    return run_name("tasks", encoding, seed, variant, task)


def scalars(schema: Schema, rows: list[dict[str, Any]]) -> list[Scalar]:
    """``--tensorboard``: accuracy and per-token accuracy against evaluation length (``eval/accuracy``,
    ``eval/token_accuracy``; passkey one tag per depth, ``eval/accuracy/<depth>``), its step the length."""
    return [Scalar(board_run(r["encoding"], r["variant"], r["task"], r["seed"]),
                   f"eval/{metric}" + (f"/{r['depth']}" if r["depth"] else ""), r[metric], r["eval_len"])
            for r in rows for metric in ("accuracy", "token_accuracy")
            if isinstance(r[metric], (int, float)) and math.isfinite(r[metric])]
