"""What the attention suite measures: settings, presets, options, tables, and the checks made before any work.

The suite reads the extrapolation suite's models: its presets are that suite's, field for
field (``training`` gives back the extrapolation settings whose checkpoints it loads), so
`--suite extrapolation,attention` trains each model once, and `--suite attention` alone loads
those models from ``<out>/checkpoints`` or trains them with the same recipe and seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pe_bench.data import load_corpus
from pe_bench.errors import InputError
from pe_bench.model import ModelConfig, estimate_bytes
from pe_bench.options import check_int, option
from pe_bench.results.schema import MACHINE_KEY, OUTCOME_COLUMNS, RUN_COLUMNS, Schema, integer, number, text
from pe_bench.runtime import Runtime
from pe_bench.seeds import seeds_option
from pe_bench.suites.attention.weights import BLOCK_SCORES
from pe_bench.suites.extrapolation import spec as extrapolation
from pe_bench.suites.extrapolation.spec import CORPUS, EVAL_LENS, ExtrapolationSettings
from pe_bench.training import STEPS, TRAIN_LEN

#: windows of fresh validation text per evaluation length, by preset (a preset not named takes quick's)
WINDOWS = {"tiny": 2, "quick": 4, "standard": 8, "large": 4}
#: the maps figure's pooled grid: at most this many cells a side
MAP_GRID = 32


@dataclass(frozen=True)
class AttentionSettings:
    """What the attention suite measures; the ``option`` fields are command-line options."""

    model: str  # the extrapolation preset whose models are read
    train_len: int = option(TRAIN_LEN)
    steps: int = option(STEPS)
    eval_lens: tuple[int, ...] | None = option(EVAL_LENS, None)
    corpus: Path | None = option(CORPUS, None)
    seeds: tuple[int, ...] = seeds_option((0,))
    windows: int = option("windows of fresh text per evaluation length (the last L queries of each are measured)",
                          4, minimum=1)
    map_layer: int | None = option("the layer of the attention-maps figure (default: the last)", None, minimum=0)
    map_head: int = option("the head of the attention-maps figure", 0, minimum=0)
    no_train: bool = option("refuse to train: every model must have a checkpoint already", False)

    def training(self) -> ExtrapolationSettings:
        """The extrapolation settings whose models this run reads (the same checkpoint identity)."""
        return replace(extrapolation.PRESETS[self.model], train_len=self.train_len, steps=self.steps,
                       eval_lens=self.eval_lens, corpus=self.corpus, seeds=self.seeds, retrain=False)

    @property
    def lengths(self) -> tuple[int, ...]:
        return self.training().lengths

    def model_config(self) -> ModelConfig:
        return self.training().model_config()

    @property
    def layer(self) -> int:
        """The maps figure's layer."""
        return self.model_config().n_layers - 1 if self.map_layer is None else self.map_layer

    @property
    def map_lengths(self) -> tuple[int, ...]:
        """The lengths the maps figure shows: L and 8L where measured, else the shortest and the longest."""
        wanted = tuple(n for n in (self.train_len, 8 * self.train_len) if n in self.lengths)
        return wanted if len(wanted) == 2 else tuple(sorted({min(self.lengths), max(self.lengths)}))


PRESETS: dict[str, AttentionSettings] = {
    name: AttentionSettings(model=ext.model, train_len=ext.train_len, steps=ext.steps, eval_lens=ext.eval_lens,
                            corpus=ext.corpus, seeds=ext.seeds, windows=WINDOWS.get(name, WINDOWS["quick"]))
    for name, ext in extrapolation.PRESETS.items()}

_COMMON = (integer("train_len"), integer("steps"), integer("seed"), text("preset"), *OUTCOME_COLUMNS, *RUN_COLUMNS,
           text("corpus_checksum"))
_RUN_KEY = ("train_len", "steps", "seed", "preset", "corpus_checksum", *MACHINE_KEY)
#: long form, one row per (encoding, layer, head, length, metric[, distance bin]); layer and head -1: the whole model
ATTENTION = Schema(
    "attention",
    columns=(text("encoding"), text("variant"), integer("layer"), integer("head"), integer("eval_len"), text("metric"),
             integer("distance", -1), number("value"), integer("queries", 0), *_COMMON),
    key=("encoding", "variant", "layer", "head", "eval_len", "metric", "distance", *_RUN_KEY),
    run_key=_RUN_KEY,
)
#: one head's map, pooled: the mean weight of the (query, key) pairs in each cell of a grid
ATTENTION_MAPS = Schema(
    "attention_maps",
    columns=(text("encoding"), text("variant"), integer("layer"), integer("head"), integer("eval_len"), integer("row"),
             integer("col"), integer("grid"), number("value"), *_COMMON),
    key=("encoding", "variant", "layer", "head", "eval_len", "row", "col", *_RUN_KEY),
    run_key=_RUN_KEY,
)


def validate(settings: AttentionSettings) -> None:
    """What the extrapolation suite checks, plus windows the corpus can fill and a maps layer and head that exist."""
    extrapolation.validate(settings.training())
    check_int(settings.windows, "--windows")
    config = settings.model_config()
    if not 0 <= settings.layer < config.n_layers:
        raise InputError(f"--map-layer {settings.layer} does not exist: the model has layers 0..{config.n_layers - 1}")
    if not 0 <= settings.map_head < config.n_heads:
        raise InputError(f"--map-head {settings.map_head} does not exist: the model has heads 0..{config.n_heads - 1}")
    corpus = load_corpus(settings.corpus)
    need = settings.windows * max(settings.lengths)
    if corpus.val.numel() < need:
        raise InputError(f"corpus {corpus.name} cannot fill {settings.windows} windows of {max(settings.lengths):,} "
                         f"tokens: its validation split has {corpus.val.numel():,} bytes and {need:,} are needed; "
                         f"give fewer --windows, shorter --eval-lens or a longer --corpus")


def check(encodings: tuple[str, ...], settings: AttentionSettings, out: Path, runtime: Runtime) -> None:
    """The extrapolation suite's checkpoint checks; with --no-train, every model's checkpoint is there."""
    training = settings.training()
    extrapolation.check(encodings, training, out, runtime)
    if not settings.no_train:
        return
    for name in encodings:
        for seed in settings.seeds:
            if not extrapolation.checkpoint(name, training, seed, out, runtime)[1].exists():
                raise InputError(f"--no-train: {name} (seed {seed}) has no checkpoint in {out / 'checkpoints'} for "
                                 f"L = {settings.train_len}, {settings.steps} steps; run --suite extrapolation "
                                 f"first, or leave out --no-train")


def record(settings: AttentionSettings) -> dict[str, Any]:
    return extrapolation.record(settings.training())


def memory(settings: AttentionSettings) -> tuple[int, str]:
    """A forward over the windows at the longest length, plus one block of scores and weights."""
    longest = max(settings.lengths)
    need = estimate_bytes(settings.model_config(), settings.windows, longest) + 3 * 8 * BLOCK_SCORES
    return max((need, f"{settings.windows} windows of {longest:,} tokens"), extrapolation.memory(settings.training()))

