"""The ``pe-bench`` command line: a thin layer that parses, validates, calls the library, renders.

Bad input never ends in a traceback: every usage error, ours or Typer's, becomes one line
on stderr and exit code 2.
"""

from __future__ import annotations

import os

# Quiet torch's C++ log (the profiler warns once about blocks allocated before it started);
# it must be set before torch is imported, so only the CLI process can do it.
os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Any  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from pe_bench import __version__  # noqa: E402
from pe_bench.attention import BACKENDS  # noqa: E402
from pe_bench.cache import POLICIES  # noqa: E402
from pe_bench.encodings import ENCODINGS, build_encoding, encoding_class  # noqa: E402
from pe_bench.errors import InputError  # noqa: E402
from pe_bench.model import PRESETS  # noqa: E402
from pe_bench.options import check_int, check_out_dir, parse_choices, parse_int_list  # noqa: E402
from pe_bench.progress import RichProgress  # noqa: E402
from pe_bench.report import summary_table  # noqa: E402
from pe_bench.runner import execute, finish, plan  # noqa: E402
from pe_bench.runtime import DEVICES, DTYPES, make_runtime  # noqa: E402
from pe_bench.suites import SUITES  # noqa: E402
from pe_bench.suites.speed import MODES  # noqa: E402

console = Console()
INVOCATION: list[str] = ["pe-bench"]  # the command line being run, recorded in manifest.json and summary.md


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"Error: {message}", err=True)
    sys.exit(code)


class OneLineErrors(TyperGroup):
    """Runs the app without Typer's standalone handling so every error can be one line."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        global INVOCATION
        INVOCATION = ["pe-bench", *(args if args is not None else sys.argv[1:])]
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except InputError as e:
            _fail(str(e))
        except typer.TyperException as e:  # Typer's usage errors: unknown option, bad int, ...
            message = " ".join((e.format_message() if hasattr(e, "format_message") else str(e)).split())
            if not message:  # `pe-bench` alone: the help was printed, nothing went wrong
                sys.exit(0)
            _fail(message, getattr(e, "exit_code", 2))
        except (typer.Abort, KeyboardInterrupt):
            _fail("interrupted", 130)
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv


app = typer.Typer(
    cls=OneLineErrors,
    help="Compare positional encodings on speed, KV-cache behaviour and length extrapolation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pe-bench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Compare positional encodings on speed, KV-cache behaviour and length extrapolation."""


@app.command("list")
def list_encodings() -> None:
    """List the positional encodings: name, family, maximum length, description."""
    table = Table(title="positional encodings")
    for column in ("name", "family", "max length", "params (quick)", "description"):
        table.add_column(column)
    quick = PRESETS["quick"]
    for name, cls in ENCODINGS.items():
        encoding = build_encoding(name, d_model=quick.d_model, n_heads=quick.n_heads, max_len=quick.max_len)
        n_params = sum(p.numel() for p in encoding.parameters())
        max_len = str(encoding.max_len) if encoding.max_len is not None else "unbounded"
        table.add_row(name, cls.family.value, max_len, f"{n_params:,}", cls.description)
    console.print(table)


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="Encoding name, as `pe-bench list` prints it.")]) -> None:
    """Explain one encoding: its family, limits and how it works."""
    cls = encoding_class(name)
    module_doc = sys.modules[cls.__module__].__doc__ or ""
    console.print(f"[bold]{name}[/bold] ({cls.family.value}): {cls.description}")
    console.print(module_doc.strip(), markup=False, highlight=False)


# Options shared by `run` and `compare`; suite-specific ones name the suite that reads them.
Suite_ = Annotated[str, typer.Option("--suite", help=f"Suites, comma-separated: {', '.join(SUITES)}, or all.")]
Preset = Annotated[str, typer.Option(help="quick, standard, or tiny (seconds; for smoke tests).")]
Device = Annotated[str, typer.Option(help=f"{', '.join(DEVICES)}.")]
Dtype = Annotated[str, typer.Option(help=f"{', '.join(DTYPES)}.")]
Threads = Annotated[int | None, typer.Option(help="CPU threads torch may use (default: all cores).")]
Seed = Annotated[int, typer.Option(help="Seed for weights and data.")]
Out = Annotated[Path, typer.Option(help="Folder for the result tables (created if missing).")]
SeqLens = Annotated[str | None, typer.Option(help="speed: sequence lengths, e.g. 128,256,512.")]
BatchSize = Annotated[int | None, typer.Option(help="speed: batch size.")]
Backends = Annotated[str | None, typer.Option(help=f"speed, kvcache: attention backends: {', '.join(BACKENDS)}.")]
Modes = Annotated[str | None, typer.Option(help=f"speed: {', '.join(MODES)}.")]
Contexts = Annotated[str | None, typer.Option(help="kvcache: context lengths, e.g. 128,512.")]
Window = Annotated[int | None, typer.Option(help="kvcache: window size W of the window and sinks policies.")]
Sinks = Annotated[int | None, typer.Option(help="kvcache: sink tokens S kept by the sinks policy.")]
Policies = Annotated[str | None, typer.Option(help=f"kvcache: cache policies: {', '.join(POLICIES)}.")]
TrainLen = Annotated[int | None, typer.Option(help="extrapolation: training length L.")]
EvalLens = Annotated[str | None, typer.Option(help="extrapolation: evaluation lengths (default L,2L,4L,8L,16L).")]
Steps = Annotated[int | None, typer.Option(help="extrapolation: training steps.")]
Stride = Annotated[int | None, typer.Option(help="extrapolation: sliding-window stride (default L).")]
Corpus = Annotated[Path | None, typer.Option(help="extrapolation: a text file or folder (default: Python's stdlib).")]
Retrain = Annotated[bool, typer.Option("--retrain", help="extrapolation: train even if a checkpoint exists.")]
Resume = Annotated[bool, typer.Option("--resume", help="Skip rows already saved in --out for the same settings.")]
Plots = Annotated[bool, typer.Option("--plots/--no-plots", help="Draw the figures into <out>/plots/ at the end.")]

PARSERS: dict[str, Any] = {
    "seq_lens": lambda v: parse_int_list(v, "--seq-lens"),
    "batch_size": lambda v: check_int(v, "--batch-size"),
    "backends": lambda v: parse_choices(v, "--backends", list(BACKENDS)),
    "modes": lambda v: parse_choices(v, "--modes", list(MODES)),
    "contexts": lambda v: parse_int_list(v, "--contexts", minimum=2),
    "policies": lambda v: parse_choices(v, "--policies", list(POLICIES), noun="policy"),
    "eval_lens": lambda v: parse_int_list(v, "--eval-lens"),
    "retrain": lambda v: v or None,  # a flag: absent means "the preset decides"
}


def _overrides(**given: Any) -> dict[str, Any]:
    """Suite options parsed from the CLI's strings; None where the preset decides.

    Plain integers (window, steps, ...) pass through: their allowed range depends on other
    settings, so the suite checks them.
    """
    return {name: None if value is None else PARSERS.get(name, lambda v: v)(value) for name, value in given.items()}


def _run_and_report(encodings: tuple[str, ...], suite: str, preset: str, device: str, dtype: str,
                    threads: int | None, seed: int, out: Path, overrides: dict[str, Any], resume: bool,
                    plots: bool) -> None:
    """Validate everything, run with progress bars, print each suite's table and the summary."""
    suites = parse_choices(suite, "--suite", list(SUITES), allow_all=True)
    runtime = make_runtime(device, dtype, threads)
    run_plan = plan(encodings, suites, preset, runtime, out, seed=seed, overrides=overrides, resume=resume)
    console.print(f"pe-bench {__version__}: {', '.join(suites)} for {', '.join(encodings)} "
                  f"on {runtime.device_name}, {runtime.dtype_name}, {runtime.threads} threads -> {out}/")
    try:
        with RichProgress(console, len(run_plan.suites)) as progress:
            execute(run_plan, progress, command=INVOCATION)
    except KeyboardInterrupt:
        _fail(f"interrupted; the rows finished before it are saved in {out}/ "
              "(run the same command with --resume to go on)", 130)
    done = finish(run_plan, draw_plots=plots, command=INVOCATION)
    for table in done.suite_tables:
        console.print(table)
    console.print(summary_table(done.summary))
    for name, reason in done.skipped_figures:
        console.print(f"skipped figure {name}: {reason}")
    console.print(f"wrote {out}/summary.md, summary.csv, manifest.json, the tables"
                  + (f" and {len(done.figures)} figures in {out}/plots/" if done.figures else ""))


@app.command()
def run(
    encoding: Annotated[str, typer.Option("--encoding", "-e", help="The encoding to measure (NoPE runs alongside).")],
    suite: Suite_ = "all", preset: Preset = "quick", device: Device = "auto", dtype: Dtype = "float32",
    threads: Threads = None, seed: Seed = 0, out: Out = Path("results"),
    seq_lens: SeqLens = None, batch_size: BatchSize = None, backends: Backends = None, modes: Modes = None,
    contexts: Contexts = None, window: Window = None, sinks: Sinks = None, policies: Policies = None,
    train_len: TrainLen = None, eval_lens: EvalLens = None, steps: Steps = None, stride: Stride = None,
    corpus: Corpus = None, retrain: Retrain = False, resume: Resume = False, plots: Plots = True,
) -> None:
    """Measure one encoding; NoPE is measured alongside where a ratio needs it."""
    encoding_class(encoding)
    overrides = _overrides(seq_lens=seq_lens, batch_size=batch_size, backends=backends, modes=modes,
                           contexts=contexts, window=window, sinks=sinks, policies=policies, train_len=train_len,
                           eval_lens=eval_lens, steps=steps, stride=stride, corpus=corpus, retrain=retrain)
    _run_and_report((encoding,), suite, preset, device, dtype, threads, seed, out, overrides, resume, plots)


@app.command()
def compare(
    encodings: Annotated[str, typer.Option(help="Encodings, comma-separated, or all.")] = "all",
    suite: Suite_ = "all", preset: Preset = "quick", device: Device = "auto", dtype: Dtype = "float32",
    threads: Threads = None, seed: Seed = 0, out: Out = Path("results"),
    seq_lens: SeqLens = None, batch_size: BatchSize = None, backends: Backends = None, modes: Modes = None,
    contexts: Contexts = None, window: Window = None, sinks: Sinks = None, policies: Policies = None,
    train_len: TrainLen = None, eval_lens: EvalLens = None, steps: Steps = None, stride: Stride = None,
    corpus: Corpus = None, retrain: Retrain = False, resume: Resume = False, plots: Plots = True,
) -> None:
    """Measure several encodings in one process, interleaved so machine drift hits them alike."""
    names = parse_choices(encodings, "--encodings", list(ENCODINGS), allow_all=True)
    overrides = _overrides(seq_lens=seq_lens, batch_size=batch_size, backends=backends, modes=modes,
                           contexts=contexts, window=window, sinks=sinks, policies=policies, train_len=train_len,
                           eval_lens=eval_lens, steps=steps, stride=stride, corpus=corpus, retrain=retrain)
    _run_and_report(names, suite, preset, device, dtype, threads, seed, out, overrides, resume, plots)


@app.command()
def plot(
    results: Annotated[Path, typer.Option(help="Folder holding the result tables.")] = Path("results"),
    out: Annotated[Path | None, typer.Option(help="Folder for the figures (default: <results>/plots).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="png or svg.")] = "png",
) -> None:
    """Draw figures from saved result tables; never reruns a benchmark."""
    from pe_bench.plots import NothingToPlot, plot_results

    if out is not None:
        check_out_dir(out)
    try:
        report = plot_results(results, out, fmt)
    except NothingToPlot as e:
        _fail(str(e), 1)
    for name, reason in report.skipped:
        console.print(f"skipped {name}: {reason}")
    console.print(f"drew {len(report.drawn)} figures in {(out or results / 'plots')}/")


def main() -> None:
    """Console-script entry point."""
    app()
