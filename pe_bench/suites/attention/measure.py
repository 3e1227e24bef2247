"""Where trained models look: the attention suite's measurement.

For every encoding and seed, the extrapolation suite's model (its checkpoint, or trained with
that suite's recipe) reads ``windows`` non-overlapping windows of E tokens of the validation
split, the same windows for every model, at every evaluation length E (L .. 16L); or, with
``--models TASK``, the tasks suite's model reads fresh examples of that task (sources.py), and
the queries measured are those that predict an answer byte. A probe on
each attention layer (``Attention.probe``) receives that layer's queries, keys and positional
inputs as the backend does and writes the weights out with the eager formula, a block of
queries at a time (weights.py); the **last L queries of each window** are measured, so at
E = 8L every measured query sees 7L to 8L keys, and at E = L the queries trained on. Per layer
and head: the entropy of each query's weights (mean, spread, and the mean log of its visible
keys for reference), the weight on the first token and on the first 4, the largest weight, the
share of the weight within distance L, the weight by log-binned distance, and the logits'
mean and spread at seen (< L) and unseen (>= L) distances. One head's full map (``--map-layer``,
``--map-head``) is pooled onto a grid at L and 8L. Each (encoding, length) also records the
seconds its forward and measurement took (layer and head -1, metric ``seconds``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import torch

from pe_bench.backends.inputs import AttentionInputs
from pe_bench.errors import Unsupported
from pe_bench.model import Transformer, too_shallow
from pe_bench.results.schema import Schema
from pe_bench.runtime import Runtime
from pe_bench.suite import RunContext
from pe_bench.suites.attention.sources import Batch, LanguageModels, TaskModels
from pe_bench.suites.attention.spec import ATTENTION, ATTENTION_MAPS, MAP_GRID, AttentionSettings
from pe_bench.suites.attention.weights import (
    BLOCK_SCORES, METRICS, MapGrid, Totals, bin_start, block_logits, blocks, n_bins, softmax_weights,
)

Source = LanguageModels | TaskModels
Probe = Callable[[torch.Tensor, torch.Tensor, AttentionInputs], None]


@contextmanager
def probing(model: Transformer, probes: list[Probe]) -> Iterator[None]:
    """``probes[i]`` on layer i's attention for the duration; removed after, even on an error."""
    for block, probe in zip(model.blocks, probes):
        block.attention.probe = probe
    try:
        yield
    finally:
        for block in model.blocks:
            block.attention.probe = None


def measure_length(model: Transformer, batches: list[Batch], train_len: int, bins: int, map_layer: int,
                   map_head: int, with_map: bool, budget: int = BLOCK_SCORES) -> tuple[list[Totals], MapGrid | None]:
    """One forward per batch (``Batch.tokens`` (B, E)): each layer's ``Totals`` over the batch's measured queries
    (``Batch.queries``), and, ``with_map``, the pooled map of (``map_layer``, ``map_head``) in the first sequence;
    the weights are written out ``budget`` scores at a time."""
    E = batches[0].tokens.shape[1]
    config = model.config
    totals = [Totals(config.n_heads, bins, train_len) for _ in model.blocks]
    grid = MapGrid(E, MAP_GRID) if with_map else None

    def probe_for(layer: int, measured: torch.Tensor, draw: bool) -> Probe:
        def probe(q: torch.Tensor, k: torch.Tensor, inputs: AttentionInputs) -> None:
            S = inputs.kv_len
            k_pos = inputs.k_pos[:S]
            for rows in blocks(measured, q.shape[0], q.shape[1], S, budget):
                logits, allowed = block_logits(q, k, inputs, rows)
                totals[layer].add(softmax_weights(logits, allowed), logits, allowed, inputs.q_pos[rows], k_pos)
            if draw and layer == map_layer:
                one = q[:1, map_head: map_head + 1]
                for rows in blocks(torch.arange(E, device=q.device), 1, 1, S, budget):
                    logits, allowed = block_logits(one, k[:1, map_head: map_head + 1], _one_head(inputs, map_head),
                                                   rows)
                    grid.add(softmax_weights(logits, allowed)[0, 0], rows)
        return probe

    device = model.token_embedding.weight.device
    with torch.no_grad():
        for i, batch in enumerate(batches):
            measured = batch.queries.to(device)
            probes = [probe_for(layer, measured, grid is not None and i == 0) for layer in range(len(model.blocks))]
            with probing(model, probes):
                model(batch.tokens.to(device))
    return totals, grid


class _OneHead:
    """A bias restricted to one head (the maps figure's), so a block of its rows is built for that head alone."""

    def __init__(self, bias: object, head: int) -> None:
        self.bias, self.head = bias, head

    def materialize(self, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
        full = self.bias.materialize(q_pos, k_pos)
        return full[..., self.head: self.head + 1, :, :]


def _one_head(inputs: AttentionInputs, head: int) -> AttentionInputs:
    """``inputs`` whose bias (if any) is that of ``head`` alone."""
    return inputs if inputs.bias is None else replace(inputs, bias=_OneHead(inputs.bias, head), _memo={})


def _rows(totals: list[Totals], make_row: Callable[..., dict]) -> list[dict]:
    """The rows of one length: every metric per layer and head, then the weight per distance bin."""
    rows = []
    for layer, total in enumerate(totals):
        means = total.means()
        for metric in METRICS:
            for head, value in enumerate(means[metric].tolist()):
                rows.append(make_row(layer=layer, head=head, metric=metric, value=value, queries=total.queries))
        for head, shares in enumerate(means["distance"].tolist()):
            rows += [make_row(layer=layer, head=head, metric="distance_mass", distance=bin_start(b), value=share,
                              queries=total.queries) for b, share in enumerate(shares)]
    return rows


def _map_rows(grid: MapGrid, layer: int, head: int, make_row: Callable[..., dict]) -> list[dict]:
    cells = grid.grid()
    return [make_row(layer=layer, head=head, row=i, col=j, grid=grid.size, value=float(cells[i, j]))
            for i in range(grid.size) for j in range(grid.size)]


def _done_keys(name: str, lengths: tuple[int, ...]) -> list[dict]:
    """The rows that mark an (encoding, seed) as measured: its ``seconds`` row at every length, written last."""
    return [{"encoding": name, "variant": name, "layer": -1, "head": -1, "eval_len": n, "metric": "seconds",
             "distance": -1} for n in lengths]


def measure(encodings: tuple[str, ...], settings: AttentionSettings, ctx: RunContext
            ) -> Iterator[tuple[Schema, list]]:
    """Every encoding at every seed: load (or train) its model, measure every length; yield rows as each finishes."""
    source = settings.source()
    inputs = {n: source.batches(n) for n in source.lengths}  # the same for every model
    for seed in settings.seeds:
        for name in encodings:
            done = [key | {"seed": seed, "task": source.task} for key in _done_keys(name, source.lengths)]
            if not ctx.done(ATTENTION, done):
                yield from _measure_model(name, settings, source, seed, inputs, ctx)


def _measure_model(name: str, settings: AttentionSettings, source: Source, seed: int,
                   inputs: dict[int, list[Batch]], ctx: RunContext) -> Iterator[tuple[Schema, list]]:
    runtime = ctx.runtime
    checksum = source.checksum

    def make_row(schema: Schema, **fields: object) -> dict:
        return schema.row(encoding=name, variant=name, task=source.task, train_len=source.train_len,
                          steps=source.steps, seed=seed, preset=settings.model, corpus_checksum=checksum,
                          **runtime.record(), **fields)

    def unsupported(note: str) -> list[dict]:
        return [make_row(ATTENTION, layer=-1, head=-1, eval_len=n, metric="seconds", supported=False, note=note)
                for n in source.lengths]

    if note := too_shallow(name, source.model_config()):
        yield ATTENTION, unsupported(note)
        return
    model, result = source.load(name, seed, ctx)
    if result.diverged:
        yield ATTENTION, unsupported(result.note)
        return
    model.eval()
    bins = n_bins(max(source.lengths))
    batches: dict[str, tuple[Schema, list]] = {schema.name: (schema, []) for schema in (ATTENTION_MAPS, ATTENTION)}
    with ctx.progress.task(f"attention {name}" + (f" seed {seed}" if len(settings.seeds) > 1 else ""),
                           total=len(source.lengths)) as advance:
        for length in source.lengths:
            for schema, rows in _measure_one(model, settings, source.train_len, length, inputs[length], bins,
                                             make_row, runtime):
                batches[schema.name][1].extend(rows)
            advance()
    # one batch per table and model, the maps first: each batch the runner saves rewrites the whole table, and
    # the ``seconds`` rows that mark the model done come last
    yield from (batch for batch in batches.values() if batch[1])


def _measure_one(model: Transformer, settings: AttentionSettings, train_len: int, length: int, inputs: list[Batch],
                 bins: int, make_row: Callable[..., dict], runtime: Runtime) -> Iterator[tuple[Schema, list]]:
    """One length's rows: the map (where asked) first, the ``seconds`` row that marks it done last."""
    with_map = length in settings.map_lengths
    start = time.perf_counter()
    try:
        totals, grid = measure_length(model, inputs, train_len, bins, settings.layer, settings.map_head, with_map)
    except Unsupported as e:
        yield ATTENTION, [make_row(ATTENTION, layer=-1, head=-1, eval_len=length, metric="seconds", supported=False,
                                   note=str(e))]
        return
    seconds = time.perf_counter() - start
    if grid is not None:
        yield ATTENTION_MAPS, _map_rows(grid, settings.layer, settings.map_head,
                                        lambda **f: make_row(ATTENTION_MAPS, eval_len=length, **f))
    rows = _rows(totals, lambda **f: make_row(ATTENTION, eval_len=length, **f))
    sequences = sum(batch.tokens.shape[0] for batch in inputs)
    rows.append(make_row(ATTENTION, layer=-1, head=-1, eval_len=length, metric="seconds", value=seconds,
                         queries=totals[0].queries, note=f"{sequences} sequences, {runtime.threads} threads"))
    yield ATTENTION, [{**r, "value": r["value"] if math.isfinite(r["value"]) else math.nan} for r in rows]
