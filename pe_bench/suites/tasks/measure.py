"""Tasks suite: train each encoding on each task at lengths up to L, answer at L, 2L, 4L, 8L.

For every (encoding, variant, task, seed) one small model is trained on examples of lengths
drawn from [the task's shortest, L] (generators/batches.py; loss on the answer bytes only),
with positions 0..T-1, or, for the ``<encoding>+rand`` variant, positions drawn at random from
a span F x L (Ruoss et al. 2023). Trained models are checkpointed under ``<out>/checkpoints/``
by a hash of everything that determines them. Then the model answers ``n_examples`` fresh
examples (another seed than training's) per evaluation length, and for passkey per depth,
greedily through the KV cache (generators/generate.py), with positions 0..T-1. A randomized
model is asked twice: at 0..T-1 (rows ``<encoding>+rand``) and at positions drawn as in its
training, T sorted draws from [0, F x L), one draw per evaluation (rows ``<encoding>+rand@rand``):
0..T-1, every gap 1, is a layout its training never showed it (issue 21, docs/tasks.md).

A model whose accuracy at L is below ``LEARNED`` has not learned the task: all its rows say so
(``learned`` false), and reports never read its longer lengths as a generalization failure.
A length an encoding cannot reach (learned absolute past its table) gives rows with
``supported`` false and the reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from pe_bench import checkpoints
from pe_bench.errors import Unsupported
from pe_bench.model import Transformer, build_model, too_shallow
from pe_bench.results.schema import Schema
from pe_bench.suite import RunContext
from pe_bench.suites.tasks.spec import AT_RAND, LEARNED, RAND, TASKS_TABLE, TasksSettings, identity
from pe_bench.suites.tasks.generators import TASKS
from pe_bench.suites.tasks.generators.batches import randomized_positions, sampler, stack
from pe_bench.suites.tasks.generators.generate import greedy_answers
from pe_bench.suites.tasks.generators.scoring import exact_match, token_accuracy
from pe_bench.suites.tasks.report import board_run
from pe_bench.training import TrainResult, train

#: evaluation examples come from seed + this, so they are never the training examples' stream
EVAL_SEED_OFFSET = 1_000_003


def variant_name(name: str, randomized: bool, asked_at_random: bool = False) -> str:
    """``name``, ``name+rand`` (trained on randomized positions) or ``name+rand@rand`` (and asked at them)."""
    if not randomized:
        return name
    return name + RAND + (AT_RAND if asked_at_random else "")


def _layouts(randomized: bool) -> tuple[bool, ...]:
    """How a model is asked: at 0..T-1 (False), and a randomized one also at random positions (True)."""
    return (False, True) if randomized else (False,)


def trained_model(name: str, task: str, randomized: bool, seed: int, settings: TasksSettings, ctx: RunContext
                   ) -> tuple[Transformer, TrainResult]:
    """Load the checkpoint for this (encoding, variant, task, seed) from ``ctx.out / "checkpoints"``, or
    train (each step to ``ctx.board``) and save one."""
    runtime = ctx.runtime
    model = build_model(name, settings.model_config(task, randomized), seed=seed).to(runtime.device, runtime.dtype)
    ident = identity(name, task, randomized, seed, settings, runtime)
    path = checkpoints.path_for(ctx.out / "checkpoints", ident)
    if path.exists() and not settings.retrain:
        return model, checkpoints.load(path, ident, model)
    config = settings.train_config(task, seed)
    span = settings.span(task, randomized) if randomized else 0
    recipe = settings.recipe(task)
    batches = sampler(task, config.train_len, config.batch_size, span, recipe.shortest, settings.task_options(task),
                      recipe.answer_weight)
    variant = variant_name(name, randomized)
    with ctx.progress.task(f"train {variant} on {task}, seed {seed}", total=config.steps) as advance:
        result = train(model, None, config, runtime, advance, sampler=batches,
                       on_step=ctx.board.steps(board_run(name, variant, task, seed)),
                       snapshots=checkpoints.snapshots(path, ident, fresh=settings.retrain))
    if not result.diverged:
        checkpoints.save(path, ident, model, result)
    return model, result


def _evaluations(task: str, settings: TasksSettings) -> list[tuple[int, str]]:
    """(evaluation length, depth) pairs; depth '' for tasks without depths."""
    depths = TASKS[task].depths or {"": None}
    return [(length, depth) for length in settings.lengths(task) for depth in depths]


def _accuracy(model: Transformer, task: str, length: int, depth: str, seed: int, settings: TasksSettings,
              span: int = 0) -> tuple[float, float]:
    """(headline accuracy, per-token accuracy) on ``n_examples`` fresh examples, at positions 0..T-1,
    or with ``span`` at T sorted positions drawn from [0, span) (drawn after the examples, from the same stream)."""
    generator = torch.Generator().manual_seed(seed + EVAL_SEED_OFFSET + length)
    spec = TASKS[task]
    tokens, answer = stack(task, length, settings.n_examples, generator, spec.depths[depth] if depth else None,
                           **settings.task_options(task))
    if span and length > span:
        factor = span // settings.recipe(task).train_len
        raise Unsupported(f"{length} positions cannot be drawn from the training span [0, {span}); "
                          f"--randomize-positions {factor} reaches {factor}L")
    positions = randomized_positions(length, span, generator) if span else None
    predicted = greedy_answers(model, tokens, answer, positions).cpu()
    per_token = token_accuracy(predicted, tokens, answer)
    return (exact_match(predicted, tokens, answer) if spec.exact else per_token), per_token


def learned_at_l(rows: list[dict], task: str, train_len: int) -> bool:
    """True if the mean accuracy at L over the task's headline depths (``Task.headline``) is at least LEARNED."""
    headline = TASKS[task].headline
    at_l = [r["accuracy"] for r in rows if r["eval_len"] == train_len and r["supported"]
            and (headline is None or r["depth"] in headline)]
    return bool(at_l) and sum(at_l) / len(at_l) >= LEARNED


def _keys(name: str, randomized: bool, task: str, seed: int, settings: TasksSettings) -> list[dict]:
    """The keys of one model's rows within a run, for ``--resume``."""
    recipe = settings.recipe(task)
    return [{"encoding": name, "variant": variant_name(name, randomized, at_random), "task": task,
             "train_len": recipe.train_len, "eval_len": length, "depth": depth, "steps": recipe.steps, "seed": seed}
            for at_random in _layouts(randomized) for length, depth in _evaluations(task, settings)]


def evaluate_one(name: str, task: str, randomized: bool, seed: int, settings: TasksSettings, ctx: RunContext
                 ) -> list[dict]:
    """Train (or load) one model for (encoding, variant, task, seed) where ``ctx`` says; its rows, one
    per evaluation length and depth (a randomized model's twice: ``_layouts``), each marked learned or
    not by the accuracy at L of its own layout."""
    runtime, progress = ctx.runtime, ctx.progress
    recipe = settings.recipe(task)
    if note := too_shallow(name, settings.model_config(task, randomized)):  # a schedule deeper than the model
        return [TASKS_TABLE.row(encoding=name, variant=variant_name(name, randomized, r), task=task, seed=seed,
                                randomized=settings.randomize_positions if randomized else 0,
                                train_len=recipe.train_len, eval_len=n, depth=d, steps=recipe.steps, lr=recipe.lr,
                                n_examples=settings.n_examples, preset=settings.recipes, params=0, supported=False, note=note,
                                **runtime.record()) for r in _layouts(randomized) for n, d in _evaluations(task, settings)]
    model, result = trained_model(name, task, randomized, seed, settings, ctx)
    common = dict(encoding=name, randomized=settings.randomize_positions if randomized else 0, task=task,
                  train_len=recipe.train_len, n_examples=settings.n_examples, seed=seed,
                  steps=recipe.steps, lr=recipe.lr, params=sum(p.numel() for p in model.parameters()),
                  final_loss=result.curve[-1]["loss"] if result.curve else math.nan, preset=settings.recipes,
                  **runtime.record())
    evaluations = _evaluations(task, settings)
    if result.diverged:
        return [TASKS_TABLE.row(**common, variant=variant_name(name, randomized, r), eval_len=n, depth=d,
                                supported=False, note=result.note) for r in _layouts(randomized) for n, d in evaluations]
    rows = []
    for at_random in _layouts(randomized):
        variant, span = variant_name(name, randomized, at_random), settings.span(task, True) if at_random else 0
        asked = []
        with progress.task(f"evaluate {variant} on {task}", total=len(evaluations)) as advance:
            for length, depth in evaluations:
                try:
                    accuracy, per_token = _accuracy(model, task, length, depth, seed, settings, span)
                    asked.append(TASKS_TABLE.row(**common, variant=variant, eval_len=length, depth=depth,
                                                 accuracy=accuracy, token_accuracy=per_token))
                except Unsupported as e:
                    asked.append(TASKS_TABLE.row(**common, variant=variant, eval_len=length, depth=depth,
                                                 supported=False, note=str(e)))
                advance()
        learned = learned_at_l(asked, task, recipe.train_len)
        for row in asked:
            row["learned"] = learned
            if not learned and not row["note"]:
                row["note"] = f"not learned: accuracy at L below {LEARNED}"
        rows += asked
    return rows


def measure(encodings: tuple[str, ...], settings: TasksSettings, ctx: RunContext) -> Iterator[tuple[Schema, list]]:
    """Every encoding x variant x task x seed; yields each model's rows as soon as they are measured.

    A model whose rows are saved already (``--resume``: ``ctx.done``) is skipped altogether;
    checkpoints live in ``ctx.out / "checkpoints"``.
    """
    for name in encodings:
        for randomized in settings.variants:
            for task in settings.tasks:
                for seed in settings.seeds:
                    if ctx.done(TASKS_TABLE, _keys(name, randomized, task, seed, settings)):
                        continue
                    yield TASKS_TABLE, evaluate_one(name, task, randomized, seed, settings, ctx)
