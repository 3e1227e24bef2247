"""``--tensorboard DIR``: the training suites' models as TensorBoard runs, written as they train.

One run per trained model, named ``suite/encoding[/variant][/task]/seed<N>`` (``run_name``),
holding ``train/loss`` and ``train/learning_rate`` at every step, and its evaluation at every
length as ``eval/...`` scalars whose step is the evaluation length (each suite says which of
its rows become scalars: ``Suite.scalars``). The training loop hands each step to the
callback ``Board.steps`` makes; the runner hands each batch of rows to ``Board.add``.

TensorBoard is optional: ``torch.utils.tensorboard`` needs the ``tensorboard`` package
(``pip install "pe-bench[tensorboard]"``). ``check`` says so in one line before any work, and
refuses a run whose suites train nothing; the runner refuses a folder pe-bench may not write
into, as it does ``--out`` (results/folder.py), and claims it. A ``Board`` without a folder,
the default in every ``RunContext``, writes nothing: the other ranks of a torchrun job hold
one, and rank 0 alone writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pe_bench.errors import InputError

MISSING = ('--tensorboard needs the tensorboard package, which is not installed; install it with '
           'pip install "pe-bench[tensorboard]"')


@dataclass(frozen=True)
class Scalar:
    """One point of one TensorBoard curve: ``tag`` of ``run`` is ``value`` at ``step``."""

    run: str
    tag: str
    value: float
    step: int


def run_name(suite: str, encoding: str, seed: int, variant: str = "", task: str = "") -> str:
    """``suite/encoding[/variant][/task]/seed<N>``; a variant that is the encoding itself is left out."""
    parts = [suite, encoding, *([variant] if variant and variant != encoding else []), *([task] if task else [])]
    return "/".join([*parts, f"seed{seed}"])


def _writer_class() -> Any:
    """torch's SummaryWriter; InputError (``MISSING``) when the tensorboard package is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise InputError(MISSING) from None
    return SummaryWriter


def check(chosen: Sequence[Any], every: Iterable[Any]) -> None:
    """Before any work: TensorBoard is installed, and one of the ``chosen`` suites trains (``every``
    suite: to name those that do). InputError otherwise."""
    _writer_class()
    if not any(suite.trains for suite in chosen):
        training = " and ".join(suite.name for suite in every if suite.trains)
        raise InputError(f"--tensorboard logs the training and evaluation of the {training} suites, which this "
                         "run does not include")


class Board:
    """Scalars written under ``folder``, one SummaryWriter per run, opened on its first scalar;
    with ``folder`` None (the default) nothing is written."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._writers: dict[str, Any] = {}

    def add(self, scalars: Iterable[Scalar]) -> None:
        """Write ``scalars`` (each to its run's writer); nothing without a folder."""
        if self.folder is None:
            return
        for scalar in scalars:
            if scalar.run not in self._writers:
                self._writers[scalar.run] = _writer_class()(log_dir=str(self.folder / scalar.run))
            self._writers[scalar.run].add_scalar(scalar.tag, scalar.value, scalar.step)

    def steps(self, run: str) -> Callable[[int, dict[str, float]], None]:
        """The training loop's ``on_step(step, {tag: value})`` for ``run``."""
        return lambda step, values: self.add(Scalar(run, tag, value, step) for tag, value in values.items())

    def close(self) -> None:
        """Flush and close every run's event file."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
