"""What the tasks suite trains and measures: settings, presets, options, the table, checks."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from pe_bench import checkpoints
from pe_bench.errors import InputError
from pe_bench.model import ModelConfig, build_model, estimate_bytes, preset
from pe_bench.options import check_int, option, parse_float_list
from pe_bench.results.schema import MACHINE_KEY, OUTCOME_COLUMNS, Schema, flag, integer, number, text
from pe_bench.runtime import Runtime
from pe_bench.seeds import check_seeds, seeds_option
from pe_bench.suites.tasks.generators import TASKS, Recipe, check_length
from pe_bench.suites.tasks.generators.flipflop import PROBS, check_probs
from pe_bench.training import RETRAIN, STEPS, TRAIN_LEN, TrainConfig

FACTORS = (1, 2, 4, 8)
#: accuracy at the training length below which a task counts as not learned
LEARNED = 0.9
RAND = "+rand"  # a randomized-positions variant is named "<encoding>+rand"
#: the same model asked at positions drawn as in its training, not 0..T-1: "<encoding>+rand@rand"
AT_RAND = "@rand"


@dataclass(frozen=True)
class TasksSettings:
    """What the tasks suite trains and measures; presets below; the ``option`` fields are command-line options."""

    model: str  # model preset name, reshaped by d_model / n_layers
    d_model: int
    n_layers: int
    recipes: str  # the preset's name (the rows' preset column), which picks each task's recipe (Task.recipes)
    tasks: tuple[str, ...] = option("tasks, comma-separated", tuple(TASKS), choices=tuple(TASKS))
    train_len: int | None = option(TRAIN_LEN, None)  # overrides every task's L
    steps: int | None = option(STEPS, None)  # overrides every task's steps
    n_examples: int = 32  # evaluation examples per length (and depth)
    factors: tuple[int, ...] = FACTORS  # evaluation lengths, as multiples of L
    #: 0: plain only; F: also "<encoding>+rand", positions from [0, F x L)
    randomize_positions: int = option("also train with randomized positions from [0, N x L) (Ruoss et al. 2023), "
                                      "reported as <encoding>+rand", 0,
                                      convert=lambda value, flag: _span_too_small(value, flag))
    retrain: bool = option(RETRAIN, False)
    seeds: tuple[int, ...] = seeds_option((0,))  # each trained and evaluated separately; reports aggregate over them
    #: flip-flop's training mix: write, ignore, read
    flip_flop_probs: tuple[float, ...] = option("flip-flop's training mix: p_write,p_ignore,p_read (sum 1, p_read > 0)",
                                                PROBS, convert=lambda text, flag: check_probs(parse_float_list(text, flag), flag))

    def task_options(self, task: str) -> dict[str, object]:
        """The keyword arguments ``task``'s generator takes from these settings (``Task.options``)."""
        return {name: getattr(self, name) for name in TASKS[task].options}

    def recipe(self, task: str) -> Recipe:
        r = TASKS[task].recipe(self.recipes)
        return replace(r, train_len=r.train_len if self.train_len is None else self.train_len,
                       steps=r.steps if self.steps is None else self.steps)

    def lengths(self, task: str) -> tuple[int, ...]:
        return tuple(f * self.recipe(task).train_len for f in self.factors)

    def span(self, task: str, randomized: bool) -> int:
        """The positions training uses: [0, span); a learned table has exactly this many."""
        return self.recipe(task).train_len * (self.randomize_positions if randomized else 1)

    @property
    def variants(self) -> tuple[bool, ...]:
        """Plain, and randomized positions if asked for."""
        return (False, True) if self.randomize_positions else (False,)

    def model_config(self, task: str, randomized: bool) -> ModelConfig:
        return preset(self.model, d_model=self.d_model, n_layers=self.n_layers, max_len=self.span(task, randomized),
                      init_std=None,  # width-scaled: see ModelConfig.init_std
                      embedding_std=self.recipe(task).embedding_std)

    def train_config(self, task: str, seed: int) -> TrainConfig:
        """How the model of ``seed`` trains on ``task``: the seed draws its examples (its weights: build_model)."""
        r = self.recipe(task)
        return TrainConfig(train_len=r.train_len, steps=r.steps, batch_size=r.batch_size, lr=r.lr,
                           warmup=max(1, r.steps // 10), seed=seed, betas=(0.9, 0.999), weight_decay=0.0)


PRESETS: dict[str, TasksSettings] = {
    "tiny": TasksSettings("tiny", d_model=32, n_layers=2, n_examples=8, factors=(1, 2, 4), recipes="tiny"),
    # each task's own recipe (in its file, pe_bench/suites/tasks/generators/), the same for every encoding
    "quick": TasksSettings("quick", d_model=64, n_layers=2, recipes="quick"),
    # three seeds: every figure with a 95 % interval and every claim with a paired test
    "standard": TasksSettings("quick", d_model=128, n_layers=2, n_examples=64, randomize_positions=8, seeds=(0, 1, 2),
                              recipes="standard"),
}


TASKS_TABLE = Schema(
    "tasks",
    columns=(text("encoding"), text("variant"), integer("randomized", 0), text("task"), integer("train_len"),
             integer("eval_len"), text("depth", ""), number("accuracy"), number("token_accuracy"),
             integer("n_examples"), flag("learned", False), integer("seed"), integer("steps"), number("lr"),
             integer("params"), number("final_loss"), text("preset"), *OUTCOME_COLUMNS, text("device"),
             text("dtype"), integer("threads"), text("torch_version")),
    key=("encoding", "variant", "task", "train_len", "eval_len", "depth", "steps", "seed", "preset", *MACHINE_KEY),
    run_key=("seed", "preset", *MACHINE_KEY),
)


def validate(settings: TasksSettings) -> None:
    """Known tasks, lengths each task fits in, a span of randomized positions that holds L."""
    if not settings.tasks:
        raise InputError(f"--tasks is empty; valid: {', '.join(TASKS)}")
    for task in settings.tasks:
        if task not in TASKS:
            raise InputError(f"unknown task '{task}'; valid: {', '.join(TASKS)}")
    check_seeds(settings.seeds)
    if settings.steps is not None:
        check_int(settings.steps, "--steps")
    check_int(settings.n_examples, "n_examples")
    check_probs(tuple(settings.flip_flop_probs))
    for task in settings.tasks:
        check_length(task, settings.recipe(task).train_len, "--train-len")
    if settings.randomize_positions < 0:  # 0: off (the presets' way of saying so)
        _span_too_small(settings.randomize_positions, "--randomize-positions")


def _span_too_small(value: int, flag: str) -> int:
    """``value`` if the span it gives, value x L, holds the longest training example (L bytes)."""
    if value < 1:
        raise InputError(f"{flag} F draws training positions from [0, F x L), which must hold the longest training "
                         f"example (L bytes): F must be an integer >= 1, got {value}")
    return value


def check(encodings: tuple[str, ...], settings: TasksSettings, out: Path, runtime: Runtime) -> None:
    """Before anything runs: the checkpoint folder can hold checkpoints, and every one to reuse loads."""
    checkpoints.check_folder(out / "checkpoints")
    if settings.retrain:
        return
    for name in encodings:
        for task in settings.tasks:
            for randomized in settings.variants:
                for seed in settings.seeds:
                    ident = identity(name, task, randomized, seed, settings, runtime)
                    path = checkpoints.path_for(out / "checkpoints", ident)
                    if path.exists():
                        checkpoints.load(path, ident, build_model(name, settings.model_config(task, randomized), seed=None))


def identity(name: str, task: str, randomized: bool, seed: int, settings: TasksSettings, runtime: Runtime) -> dict:
    """What determines a trained model: the checkpoint's key (the task and the span stand for the corpus)."""
    recipe = settings.recipe(task)
    options = settings.task_options(task)
    data = f"task:{task}:span{settings.span(task, randomized) if randomized else 0}:v2" + (
        f":from{recipe.shortest}" if recipe.shortest else "") + (
        f":answer_weight{recipe.answer_weight}" if recipe.answer_weight is not None else "") + "".join(
        f":{k}={v}" for k, v in options.items())
    return checkpoints.identity(name, settings.model_config(task, randomized), settings.train_config(task, seed), data,
                                runtime)


def memory(settings: TasksSettings) -> tuple[int, str]:
    """The largest of training at L and evaluation at 8L, over the tasks."""
    shapes = []
    for task in settings.tasks:
        config = settings.model_config(task, bool(settings.randomize_positions))
        length = settings.recipe(task).train_len
        batch = settings.recipe(task).batch_size
        shapes.append((estimate_bytes(config, batch, length, train=True), f"{task} training at {length}"))
        longest = max(settings.lengths(task))
        shapes.append((estimate_bytes(config, settings.n_examples, longest), f"{task} evaluation at {longest}"))
    return max(shapes)
