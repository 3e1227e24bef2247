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

from pe_bench.errors import InputError
from pe_bench.model import ModelConfig, estimate_bytes
from pe_bench.options import check_choice, check_int, option
from pe_bench.results.tables import read_table
from pe_bench.results.schema import MACHINE_KEY, OUTCOME_COLUMNS, RUN_COLUMNS, Schema, integer, number, text
from pe_bench.runtime import Runtime
from pe_bench.seeds import seeds_option
from pe_bench.suites.attention.sources import LM, SOURCES, LanguageModels, TaskModels, source
from pe_bench.suites.attention.weights import BLOCK_SCORES
from pe_bench.suites.extrapolation import spec as extrapolation
from pe_bench.suites.extrapolation.spec import CORPUS, EVAL_LENS, ExtrapolationSettings
from pe_bench.suites.tasks import spec as tasks
from pe_bench.suites.tasks.spec import TasksSettings
from pe_bench.training import STEPS, TRAIN_LEN

#: windows of fresh validation text per evaluation length, by preset (a preset not named takes quick's)
WINDOWS = {"tiny": 2, "quick": 4, "standard": 8, "large": 4}
#: the maps figure's pooled grid: at most this many cells a side
MAP_GRID = 32


@dataclass(frozen=True)
class AttentionSettings:
    """What the attention suite measures; the ``option`` fields are command-line options."""

    model: str  # the preset whose models are read (the extrapolation suite's, or the tasks suite's)
    models: str = option("whose models to read: lm (the extrapolation suite's language models, on fresh text) or "
                         "a task (the tasks suite's models for it, on fresh examples)", LM, choices=SOURCES)
    train_len: int | None = option(TRAIN_LEN, None)  # None: the preset's (lm), or the task's recipe's
    steps: int | None = option(STEPS, None)
    eval_lens: tuple[int, ...] | None = option(EVAL_LENS, None)
    corpus: Path | None = option(CORPUS, None)
    seeds: tuple[int, ...] = seeds_option((0,))
    windows: int = option("windows of fresh text (examples of a task) per evaluation length", 4, minimum=1)
    map_layer: int | None = option("the layer of the attention-maps figure (default: the last)", None, minimum=0)
    map_head: int = option("the head of the attention-maps figure", 0, minimum=0)
    no_train: bool = option("refuse to train: every model must have a checkpoint already", False)

    def training(self) -> ExtrapolationSettings:
        """The extrapolation settings whose models ``--models lm`` reads (the same checkpoint identity)."""
        preset = extrapolation.PRESETS[self.model]
        return replace(preset, train_len=self.train_len or preset.train_len, steps=self.steps or preset.steps,
                       eval_lens=self.eval_lens, corpus=self.corpus, seeds=self.seeds, retrain=False)

    def task_training(self) -> TasksSettings:
        """The tasks settings whose models ``--models TASK`` reads: that task alone, plain positions."""
        preset = tasks.PRESETS.get(self.model, tasks.PRESETS["quick"])
        task = self.models if self.models in tasks.TASKS else next(iter(tasks.TASKS))
        return replace(preset, tasks=(task,), train_len=self.train_len, steps=self.steps, seeds=self.seeds,
                       randomize_positions=0, retrain=False)

    def source(self) -> LanguageModels | TaskModels:
        return source(self.models, self.training(), self.task_training(), self.windows, self.eval_lens)

    @property
    def lengths(self) -> tuple[int, ...]:
        return self.source().lengths

    def model_config(self) -> ModelConfig:
        return self.source().model_config()

    @property
    def layer(self) -> int:
        """The maps figure's layer."""
        return self.model_config().n_layers - 1 if self.map_layer is None else self.map_layer

    @property
    def map_lengths(self) -> tuple[int, ...]:
        """The lengths the maps figure shows: L and 8L where measured, else the shortest and the longest."""
        L = self.source().train_len
        wanted = tuple(n for n in (L, 8 * L) if n in self.lengths)
        return wanted if len(wanted) == 2 else tuple(sorted({min(self.lengths), max(self.lengths)}))


PRESETS: dict[str, AttentionSettings] = {
    name: AttentionSettings(model=name, eval_lens=ext.eval_lens, corpus=ext.corpus, seeds=ext.seeds,
                            windows=WINDOWS.get(name, WINDOWS["quick"]))
    for name, ext in extrapolation.PRESETS.items()}

_COMMON = (text("task", ""), integer("train_len"), integer("steps"), integer("seed"), text("preset"), *OUTCOME_COLUMNS, *RUN_COLUMNS,
           text("corpus_checksum"))
_RUN_KEY = ("task", "train_len", "steps", "seed", "preset", "corpus_checksum", *MACHINE_KEY)
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
    """What the suite that trains the models checks, inputs to fill the lengths, a maps layer and head that exist."""
    check_choice(settings.models, "--models", SOURCES)
    check_int(settings.windows, "--windows")
    settings.source().validate()
    config = settings.model_config()
    if not 0 <= settings.layer < config.n_layers:
        raise InputError(f"--map-layer {settings.layer} does not exist: the model has layers 0..{config.n_layers - 1}")
    if not 0 <= settings.map_head < config.n_heads:
        raise InputError(f"--map-head {settings.map_head} does not exist: the model has heads 0..{config.n_heads - 1}")


def check(encodings: tuple[str, ...], settings: AttentionSettings, out: Path, runtime: Runtime) -> None:
    """The training suite's checkpoint checks; with --no-train, every model's checkpoint is there; one source
    per folder (the summary and figures have one row and panel per encoding)."""
    source = settings.source()
    source.check(encodings, out, runtime)
    _one_source(out, source.task)
    if not settings.no_train:
        return
    for name in encodings:
        for seed in settings.seeds:
            if not source.has_checkpoint(name, seed, out, runtime):
                raise InputError(f"--no-train: {name} (seed {seed}) has no checkpoint in {out / 'checkpoints'} for "
                                 f"L = {source.train_len}, {source.steps} steps; run {source.trainer} first, or "
                                 f"leave out --no-train")


def _one_source(out: Path, task: str) -> None:
    """InputError if ``out``'s attention table holds another source's models than ``task``'s ('' the language models)."""
    path = out / f"{ATTENTION.name}.csv"
    if not path.is_file():
        return
    held = {value for value in read_table(path, ATTENTION)["task"].fillna("").astype(str).unique()}
    if held and held != {task}:
        have = ", ".join(sorted(_label(t) for t in held))
        raise InputError(f"{path} holds the attention of {have}; measure {_label(task)} into another --out "
                         f"(one folder's summary and figures show one kind of model)")


def _label(task: str) -> str:
    return f"the {task} models" if task else "the language models"


def record(settings: AttentionSettings) -> dict[str, Any]:
    return settings.source().record()


def memory(settings: AttentionSettings) -> tuple[int, str]:
    """A forward over the windows at the longest length, plus one block of scores and weights."""
    longest = max(settings.lengths)
    need = estimate_bytes(settings.model_config(), settings.windows, longest) + 3 * 8 * BLOCK_SCORES
    return max((need, f"{settings.windows} windows of {longest:,} tokens"), settings.source().memory())
