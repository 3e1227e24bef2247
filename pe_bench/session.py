"""One whole run, as the CLI does it and a Python user can: ``pe_bench.run(...)``.

``run`` is the protocol around the runner's three steps (plan, execute, finish):

- SIGTERM and SIGHUP end a run as Ctrl-C does (rows kept, temporaries removed, the manifest
  says "interrupted"; ``Interrupted`` carries the signal for the exit code);
- under torchrun it joins the process group; every rank validates, one rank's bad input
  stops every rank (``World.first_problem``), every rank does its share of the work and rank 0
  alone writes and reports (ranks.py); the results folder is locked while anything writes;
- a user's encoding that breaks mid-run surfaces as ``PluginFailure`` naming it, with the
  original exception chained, so the rows finished before it stay and the message says so.

What the user sees (the plan, notices, progress bars, waiting for a lock) goes through a
``Reporter``; the default shows nothing, the CLI's prints to the terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

from pe_bench import distributed
from pe_bench.encodings import BUILT_IN, ORIGINS, parse_encodings
from pe_bench.errors import InputError, OutputError, PeBenchError
from pe_bench.interrupts import exit_code, terminations_as_interrupts
from pe_bench.options import parse_choices
from pe_bench.progress import Progress
from pe_bench.runner import Finished, Plan, execute, finish, plan
from pe_bench.runtime import make_runtime
from pe_bench.suites import SUITES


class PluginFailure(PeBenchError):
    """A user's encoding raised during a run; the rows finished before it are saved."""


class RankFailure(PeBenchError):
    """Under torchrun, a rank other than 0 could not do its share (its own bad state or a file it
    could not write); the message names the rank. Rank 0's own failures raise as they are."""


class InterruptedWhileReporting(KeyboardInterrupt):
    """Interrupted after every row was saved, while the summary and figures were written."""

    def __init__(self, code: int) -> None:
        self.exit_code = code  # the interrupt's own (interrupts.exit_code)
        super().__init__("interrupted while writing the summary and figures")


class Reporter:
    """What a run tells its user. The default tells nothing; the CLI's prints to the terminal."""

    def started(self, run_plan: Plan) -> None:
        """The plan is valid and work is about to start (rank 0 only)."""

    def notice(self, text: str) -> None:
        """Something the user should read (a manifest moved aside, a lock being waited for)."""

    def progress(self, suites: int) -> AbstractContextManager[Progress]:
        """Progress bars for ``suites`` suites (rank 0 only)."""
        return nullcontext(Progress())


def _names(value: Sequence[str] | str, parse: Any) -> tuple[str, ...]:
    return parse(value) if isinstance(value, str) else parse(",".join(value))


def run(encodings: Sequence[str] | str = "all", suites: Sequence[str] | str = "all", preset: str = "quick", *,
        device: str = "auto", dtype: str = "float32", threads: int | None = None, seed: int | None = None,
        out: Path | str = Path("results"), resume: bool = False, plots: bool = True, distribute: str | None = None,
        tensorboard: Path | str | None = None, command: list[str] | None = None, reporter: Reporter | None = None,
        **options: Any) -> Finished | None:
    """Validate everything, run the suites, write the summary and figures; what ``pe-bench compare`` does.

    Args:
        encodings: names, plugin specs (``path.py:Class``) or ``"all"``, as a list or comma-separated.
        suites: suite names or ``"all"``.
        preset: ``tiny``, ``quick``, ``standard`` or ``large``.
        options: suite options by settings field (``seq_lens=(128, 256)``, ``seeds=(0, 1)``): the
            values the CLI's ``--seq-lens 128,256`` parses to; an option no chosen suite reads is
            an InputError.
        tensorboard: a folder for TensorBoard scalars of the training suites (loss and learning rate
            per step, evaluation per length: pe_bench/tensorboard.py); needs the tensorboard package.
        command: the command line to record in manifest.json and summary.md (default: sys.argv).

    Returns:
        What ``finish`` made (the summary, each suite's table, the figures), on rank 0; None on
        the other ranks of a torchrun job.

    Raises:
        InputError: bad input, on every rank, before any work.
        OutputError: a file that could not be written.
        KeyboardInterrupt: Ctrl-C, SIGTERM or SIGHUP (``interrupts.Interrupted``); the rows
            finished before it are saved. ``InterruptedWhileReporting`` if every row was.
        PluginFailure: a user's encoding raised mid-run.
    """
    reporter = reporter or Reporter()
    out = Path(out)
    with terminations_as_interrupts():
        chosen = _names(suites, lambda text: parse_choices(text, "--suite", list(SUITES), allow_all=True))
        names = _names(encodings, parse_encodings)
        runtime = make_runtime(device, dtype, threads)
        world, rank_device = distributed.start(runtime.device, distribute or "ddp")  # an unknown value: InputError
        if distribute is not None and not distributed.launched():  # ignoring it would mislead
            raise InputError(f"--distribute applies under torchrun only; this is one process (torchrun "
                             f"--nproc-per-node N -m pe_bench ... uses {distribute}; or leave --distribute out)")
        runtime = replace(runtime, device=rank_device, world=world)
        try:
            run_plan, problem = plan(names, chosen, preset, runtime, out, seed=seed, overrides=options, resume=resume,
                                     tensorboard=None if tensorboard is None else Path(tensorboard)), None
        except InputError as e:
            run_plan, problem = None, str(e)
        if (problem := world.first_problem(problem)) is not None:  # one rank's bad input stops every rank
            raise InputError(problem)
        assert run_plan is not None
        if world.is_main:
            reporter.started(run_plan)
        shown = len(run_plan.notices)
        bars = reporter.progress(len(run_plan.suites)) if world.is_main else nullcontext(Progress())
        try:
            with bars as progress:
                execute(run_plan, progress, command=command, tell=reporter.notice)
        except (InputError, OutputError) as e:
            if world.is_main:
                raise
            raise RankFailure(f"rank {world.rank}: {e}") from e  # torchrun then stops rank 0
        except (KeyboardInterrupt, PeBenchError):
            raise
        except Exception as e:
            plugins = [name for name in run_plan.encodings if ORIGINS[name] is not BUILT_IN]
            if not plugins:
                raise  # pe-bench's own bug: the traceback is what a report needs
            raise PluginFailure(f"stopped by {type(e).__name__}: {' '.join(str(e).split())[:300]} — with the user "
                                f"encodings {', '.join(plugins)}; rows finished before it are saved in {out}/ "
                                f"(pe-bench check {' '.join(plugins)} may say which part breaks)") from e
        distributed.stop(world)
        if not world.is_main:
            return None
        try:
            done = finish(run_plan, draw_plots=plots, command=command, tell=reporter.notice)
        except KeyboardInterrupt as e:
            raise InterruptedWhileReporting(exit_code(e)) from e
        for text in run_plan.notices[shown:]:  # a manifest that went corrupt while the run wrote
            reporter.notice(text)
        return done
