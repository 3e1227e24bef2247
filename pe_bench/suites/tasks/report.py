"""How the tasks suite reports its rows: the terminal table and its columns of the summary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from rich.console import Group
from rich.table import Table

from pe_bench.results.summary import SummaryPart
from pe_bench.results.tables import is_true
from pe_bench.tasks import TASKS

NOT_LEARNED = "not learned"


def by_length(df: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per (encoding, variant, task, eval_len), averaged over depths; unsupported rows NaN."""
    df = df.assign(accuracy=df["accuracy"].where(is_true(df["supported"])))
    keys = ["encoding", "variant", "task", "train_len", "eval_len"]
    return (df.groupby(keys, sort=False, dropna=False)
            .agg(accuracy=("accuracy", lambda s: s.mean() if s.notna().all() else math.nan),
                 learned=("learned", lambda s: bool(is_true(s).all())))
            .reset_index())


def _cell(accuracy: float) -> str:
    return "n/a" if accuracy != accuracy else f"{accuracy:.2f}"


def render(tables: dict[str, pd.DataFrame]) -> Group:
    """Accuracy per evaluation length, one table per task; a model that did not learn the task says so."""
    df = tables.get("tasks", pd.DataFrame())
    parts = []
    if not len(df):
        return Group()
    for task, rows in by_length(df).groupby("task", sort=False):
        lengths = sorted(rows["eval_len"].unique())
        train_len = int(rows["train_len"].iloc[0])
        table = Table(title=f"{task}: accuracy, trained at lengths up to L = {train_len}"
                            + (" (mean of the depths)" if TASKS.get(str(task)) and TASKS[str(task)].depths else ""))
        table.add_column("encoding / variant")
        for length in lengths:
            table.add_column(f"{length} ({length // train_len}L)", justify="right")
        table.add_column("at L")
        for variant, group in rows.groupby("variant", sort=False):
            values = group.drop_duplicates("eval_len", keep="last").set_index("eval_len")["accuracy"]
            learned = bool(group["learned"].all())
            table.add_row(str(variant), *[_cell(values.get(n, math.nan)) for n in lengths],
                          "learned" if learned else NOT_LEARNED)
        parts.append(table)
    return Group(*parts)


def summarize(tables: Mapping[str, pd.DataFrame], name: str) -> dict[str, Any]:
    """Per task, the plain encoding's accuracy at 4L; 'not learned' where it did not learn the task at L."""
    df = tables.get("tasks")
    if df is None or not len(df):
        return {}
    rows = by_length(df[(df["encoding"] == name) & (df["variant"] == name)])
    row: dict[str, Any] = {}
    for task in TASKS:
        mine = rows[rows["task"] == task]
        if not len(mine):
            continue
        at = mine[mine["eval_len"] == 4 * mine["train_len"]]
        if not mine["learned"].all():
            row[f"{task}_4L"] = NOT_LEARNED
        elif len(at):
            row[f"{task}_4L"] = _cell(float(at["accuracy"].iloc[-1]))
    return row


def _show(column: str):  # noqa: ANN202
    return lambda r: "" if r[column] is None or r[column] != r[column] else str(r[column])


SUMMARY = SummaryPart(
    columns=tuple(f"{task}_4L" for task in TASKS),
    compute=summarize,
    display=tuple((f"{task} 4L", _show(f"{task}_4L")) for task in TASKS),
    legend="Task accuracy at 4L, four times the task's training length (passkey: mean of the depths; copy: whole "
           "string exact; recall: per query); *not learned*: accuracy at L below 0.9, so no length "
           "generalization can be read from it.",
)
