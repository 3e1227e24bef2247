"""Whose models the attention suite reads (``--models``), and what they read there.

``lm``: the extrapolation suite's language models, on ``windows`` non-overlapping windows of
fresh validation text per length, the last L queries of each measured. A task's name: the
tasks suite's (plain) models for that task, on ``windows`` fresh examples of it per length
(from a seed of their own, the same for every model), the queries that predict an answer byte
measured (passkey: the key's digits; copy: the string; recall and flip-flop: each answer).
Either way a model missing its checkpoint is trained with its suite's recipe and seed unless
``--no-train`` forbids it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pe_bench import checkpoints
from pe_bench.data import load_corpus
from pe_bench.errors import InputError
from pe_bench.model import ModelConfig, Transformer
from pe_bench.runtime import Runtime
from pe_bench.suite import RunContext
from pe_bench.suites.extrapolation import spec as extrapolation
from pe_bench.suites.extrapolation.measure import trained_model as trained_language_model
from pe_bench.suites.extrapolation.spec import ExtrapolationSettings
from pe_bench.suites.tasks import spec as tasks
from pe_bench.suites.tasks.generators import TASKS, check_length
from pe_bench.suites.tasks.generators.batches import stack
from pe_bench.suites.tasks.measure import trained_model as trained_task_model
from pe_bench.suites.tasks.spec import TasksSettings
from pe_bench.training import TrainResult

LM = "lm"
#: what --models takes: the language models, or one task's
SOURCES = (LM, *TASKS)
#: a task's examples come from this seed plus the length: the same for every model and seed, never training's
EXAMPLES_SEED = 7_000_003


@dataclass(frozen=True)
class Batch:
    """One forward's input: ``tokens`` (B, E), and the query positions measured in every row of it."""

    tokens: Tensor
    queries: Tensor


class LanguageModels:
    """The extrapolation suite's models on fresh text."""

    task = ""

    def __init__(self, settings: ExtrapolationSettings, windows: int) -> None:
        self.settings, self.windows = settings, windows
        self.train_len, self.steps, self.lengths = settings.train_len, settings.steps, settings.lengths

    def model_config(self) -> ModelConfig:
        return self.settings.model_config()

    @property
    def checksum(self) -> str:
        return load_corpus(self.settings.corpus).checksum

    def validate(self) -> None:
        """The extrapolation suite's checks, and windows the corpus can fill."""
        extrapolation.validate(self.settings)
        corpus, longest = load_corpus(self.settings.corpus), max(self.lengths)
        need = self.windows * longest
        if corpus.val.numel() < need:
            raise InputError(f"corpus {corpus.name} cannot fill {self.windows} windows of {longest:,} tokens: its "
                             f"validation split has {corpus.val.numel():,} bytes and {need:,} are needed; give fewer "
                             f"--windows, shorter --eval-lens or a longer --corpus")

    def check(self, encodings: tuple[str, ...], out: Path, runtime: Runtime) -> None:
        extrapolation.check(encodings, self.settings, out, runtime)

    def has_checkpoint(self, name: str, seed: int, out: Path, runtime: Runtime) -> bool:
        return extrapolation.checkpoint(name, self.settings, seed, out, runtime)[1].exists()

    def load(self, name: str, seed: int, ctx: RunContext) -> tuple[Transformer, TrainResult]:
        return trained_language_model(name, self.settings, seed, load_corpus(self.settings.corpus), ctx)

    def batches(self, length: int) -> list[Batch]:
        """The first ``windows`` windows of ``length`` tokens of the validation split; their last L queries."""
        val = load_corpus(self.settings.corpus).val
        tokens = val[: self.windows * length].long().view(self.windows, length)
        return [Batch(tokens, torch.arange(max(0, length - self.train_len), length))]

    def record(self) -> dict[str, Any]:
        return extrapolation.record(self.settings)

    def memory(self) -> tuple[int, str]:
        return extrapolation.memory(self.settings)

    @property
    def trainer(self) -> str:
        return "the extrapolation suite"


class TaskModels:
    """The tasks suite's plain models for one task, on fresh examples of it."""

    def __init__(self, settings: TasksSettings, task: str, windows: int, lengths: tuple[int, ...] | None) -> None:
        self.settings, self.task, self.windows = settings, task, windows
        recipe = settings.recipe(task)
        self.train_len, self.steps = recipe.train_len, recipe.steps
        self.lengths = lengths or settings.lengths(task)  # L .. 8L, as the tasks suite evaluates

    def model_config(self) -> ModelConfig:
        return self.settings.model_config(self.task, False)

    @property
    def checksum(self) -> str:
        return ""  # the examples come from a generator and a seed, not a corpus

    def validate(self) -> None:
        tasks.validate(self.settings)
        for length in self.lengths:
            check_length(self.task, length, "--eval-lens")

    def check(self, encodings: tuple[str, ...], out: Path, runtime: Runtime) -> None:
        tasks.check(encodings, self.settings, out, runtime)

    def has_checkpoint(self, name: str, seed: int, out: Path, runtime: Runtime) -> bool:
        ident = tasks.identity(name, self.task, False, seed, self.settings, runtime)
        return checkpoints.path_for(out / "checkpoints", ident).exists()

    def load(self, name: str, seed: int, ctx: RunContext) -> tuple[Transformer, TrainResult]:
        return trained_task_model(name, self.task, False, seed, self.settings, ctx)

    def batches(self, length: int) -> list[Batch]:
        """``windows`` examples of ``length`` bytes (a random depth each); the queries that predict an answer byte.
        Examples whose answers sit at the same bytes share a batch; the others (flip-flop's) are one each."""
        generator = torch.Generator().manual_seed(EXAMPLES_SEED + length)
        tokens, answer = stack(self.task, length, self.windows, generator, None, **self.settings.task_options(self.task))
        if answer.dim() == 1:
            return [Batch(tokens, _predicting(answer))]
        return [Batch(tokens[i: i + 1], _predicting(answer[i])) for i in range(tokens.shape[0])]

    def record(self) -> dict[str, Any]:
        return {"task": self.task}

    def memory(self) -> tuple[int, str]:
        return tasks.memory(self.settings)

    @property
    def trainer(self) -> str:
        return f"the tasks suite ({self.task})"


def _predicting(answer: Tensor) -> Tensor:
    """The positions whose next byte is an answer byte: the queries that produce the answer."""
    return torch.nonzero(answer[1:]).flatten()


def source(models: str, language: ExtrapolationSettings, task_settings: TasksSettings, windows: int,
           eval_lens: tuple[int, ...] | None) -> LanguageModels | TaskModels:
    """The source ``--models`` names, built from the settings of the suite that trains its models."""
    if models == LM:
        return LanguageModels(language, windows)
    return TaskModels(task_settings, models, windows, eval_lens)
