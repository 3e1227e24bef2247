"""The ``pe-bench`` command line: a thin layer that parses, validates, calls the library, renders.

Bad input never ends in a traceback: every usage error, ours or Typer's, becomes one line
on stderr and exit code 2.
"""

from __future__ import annotations

import os

# Quiet torch's C++ log (the profiler warns once about blocks allocated before it started);
# it must be set before torch is imported, so only the CLI process can do it.
os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")

import inspect  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Any  # noqa: E402

import typer  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.table import Table  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from pe_bench import __version__  # noqa: E402
from pe_bench import command_options as options  # noqa: E402
from pe_bench import distributed, jobs, session, terminal  # noqa: E402
from pe_bench.check import check_encodings, check_report, registered_names  # noqa: E402
from pe_bench.encodings import ENCODINGS, ORIGINS, build_encoding, encoding_class  # noqa: E402
from pe_bench.encodings import load_entry_points  # noqa: E402
from pe_bench.encodings import parse_encodings, resolve  # noqa: E402
from pe_bench.errors import InputError, OutputError  # noqa: E402
from pe_bench.figures import FORMATS, NothingToPlot  # noqa: E402
from pe_bench.interrupts import exit_code, terminations_as_interrupts  # noqa: E402
from pe_bench.model import PRESETS  # noqa: E402
from pe_bench.progress import progress_for  # noqa: E402
from pe_bench.results.summary import differences_table, summary_table  # noqa: E402
from pe_bench.replot import plot_results  # noqa: E402
from pe_bench.runner import Plan  # noqa: E402
from pe_bench.runtime import make_runtime  # noqa: E402
from pe_bench.session import Reporter  # noqa: E402

# under torchrun, rank 0 alone prints: tables, progress bars, notices and bad-input lines
console = terminal.console(quiet=distributed.rank_from_environment() != 0)
INVOCATION: list[str] = ["pe-bench"]  # the command line being run, recorded in manifest.json and summary.md


def _fail(message: str, code: int = 2, every_rank: bool = False) -> None:
    """One line on stderr and exit; under torchrun, from rank 0 only unless ``every_rank`` (a rank's own failure)."""
    if every_rank or distributed.rank_from_environment() == 0:
        typer.echo(f"Error: {message}", err=True)
    sys.exit(code)


class OneLineErrors(TyperGroup):
    """Runs the app without Typer's standalone handling so every error can be one line."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        global INVOCATION
        INVOCATION = jobs.typed_command() or ["pe-bench", *(args if args is not None else sys.argv[1:])]
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except (InputError, OutputError) as e:
            _fail(str(e))
        except typer.TyperException as e:  # Typer's usage errors: unknown option, bad int, ...
            message = " ".join((e.format_message() if hasattr(e, "format_message") else str(e)).split())
            if not message:  # `pe-bench` alone: the help was printed, nothing went wrong
                sys.exit(0)
            _fail(message, getattr(e, "exit_code", 2))
        except (typer.Abort, KeyboardInterrupt) as e:  # SIGTERM and SIGHUP too, in run and compare
            _fail("interrupted", exit_code(e))
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv


app = typer.Typer(
    cls=OneLineErrors,
    help="Compare positional encodings on speed, KV-cache behaviour and length extrapolation.",
    no_args_is_help=True,
    add_completion=True,
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
    """List the positional encodings: name, family, maximum length, where it comes from, description."""
    problems = load_entry_points()  # installed packages' encodings
    table = Table(title="positional encodings")
    for column in ("name", "family", "max length", "params (quick)", "from", "description"):
        table.add_column(column)
    quick = PRESETS["quick"]
    for name, cls in ENCODINGS.items():
        encoding = build_encoding(name, d_model=quick.d_model, n_heads=quick.n_heads, max_len=quick.max_len)
        contexts = [encoding.for_layer(i).layer_context() for i in range(quick.n_layers)]  # a contextual one's
        n_params = sum(p.numel() for m in [encoding, *filter(None, contexts)] for p in m.parameters())
        max_len = str(encoding.max_len) if encoding.max_len is not None else "unbounded"
        family = cls.family.value + (f", variant of {cls.variant_of}" if cls.variant_of else "")
        table.add_row(name, family, max_len, f"{n_params:,}", ORIGINS[name].describe(), cls.description)
    console.print(terminal.fit(table))
    for problem in problems:
        console.print(f"skipped: {problem}", markup=False, highlight=False)


EncodingName = Annotated[str, typer.Argument(help="Encoding name, as `pe-bench list` prints it.",
                                             autocompletion=options.completer(lambda: list(ENCODINGS), False))]


@app.command("show")
def show(name: EncodingName) -> None:
    """Explain one encoding: its family, limits and how it works."""
    cls = encoding_class(name)
    module_doc = sys.modules[cls.__module__].__doc__ or ""
    console.print(f"[bold]{escape(name)}[/bold] ({cls.family.value}): {escape(cls.description)}", markup=True)
    console.print(module_doc.strip(), markup=False, highlight=False)


@app.command("check")
def check(names: Annotated[list[str], typer.Argument(
        metavar="ENCODING", help="Encodings, as `pe-bench list` names them.",
        autocompletion=options.completer(lambda: list(ENCODINGS), False))]) -> None:
    """Check that encodings keep the contract and every claim they make; exit 1 if any check fails."""
    names = registered_names(names)  # an unknown name: InputError, before any output
    with progress_for(console, len(names), title="pe-bench check") as progress:
        results = check_encodings(names, progress)
    table, lines = check_report(results)
    console.print(terminal.fit(table))
    console.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
    if not all(r.passed for r in results):
        raise typer.Exit(1)


class _Terminal(Reporter):
    """What a run shows on the terminal (rank 0's): the plan, notices, progress bars."""

    def started(self, run_plan: Plan) -> None:
        world, runtime = run_plan.runtime.world, run_plan.runtime
        ranks = f", rank 0 of {world.world_size} ({world.backend}, {world.distribute})" if world.active else ""
        console.print(f"pe-bench {__version__}: {', '.join(run_plan.suites)} for {', '.join(run_plan.encodings)} "
                      f"on {runtime.device_name}, {runtime.dtype_name}, {runtime.threads} threads{ranks} "
                      f"-> {run_plan.out}/")
        for text in run_plan.notices:
            self.notice(text)

    def notice(self, text: str) -> None:
        console.print(text, markup=False, highlight=False)

    def progress(self, suites: int) -> Any:
        return progress_for(console, suites)


def _run_and_report(encodings: tuple[str, ...], out: Path, **given: Any) -> None:
    """``pe_bench.run`` with the terminal's reporter; bad input and failures as one line."""
    rank = distributed.rank_from_environment()
    try:
        done = session.run(encodings, out=out, command=INVOCATION, reporter=_Terminal(), **given)
    except session.InterruptedWhileReporting as e:
        _fail(f"interrupted while writing the summary and figures; every row is saved in {out}/ "
              f"(pe-bench plot --results {out} draws the figures again)", exit_code(e))
    except KeyboardInterrupt as e:
        _fail(f"interrupted; the rows finished before it are saved in {out}/ "
              "(run the same command with --resume to go on)", exit_code(e))
    except session.PluginFailure as e:
        _fail(f"{'' if rank == 0 else f'rank {rank}: '}{e}", 1, every_rank=True)
    except session.RankFailure as e:  # a rank's own failure, said by that rank
        _fail(str(e), 2, every_rank=True)
    if done is None:  # another rank than 0: rank 0 reports
        return
    if console.is_terminal:  # a log or a pipe printed each suite's table as the suite ended (progress.LogProgress)
        for table in done.suite_tables:
            console.print(terminal.fit(table))
    console.print(terminal.fit(summary_table(done.summary, done.parts)))
    if len(done.differences):
        console.print(terminal.fit(differences_table(done.differences)))
    for name, reason in done.skipped_figures:
        console.print(f"skipped figure {name}: {reason}")
    console.print(f"wrote {out}/summary.md, summary.html, summary.csv, differences.csv, manifest.json, the tables"
                  + (f" and {len(done.figures)} figures in {out}/plots/" if done.figures else ""))
    for line in done.notes:
        console.print(line, markup=False, highlight=False)


def _measuring_command(name: str, doc: str, encodings: inspect.Parameter,
                       to_names: Callable[[str], tuple[str, ...]]) -> None:
    """Register ``run`` or ``compare``: the same options, declared once; only how encodings are named differs."""
    parameters = [encodings, *options.parameters()]

    def command(**given: Any) -> None:
        names = to_names(given[encodings.name])
        common = {n: given[n] for n, _, _ in options.RUN_OPTIONS}
        common["suites"] = common.pop("suite")
        n_jobs = common.pop("jobs")
        if n_jobs != 1:  # start the command again as n_jobs ranks of a sweep (pe_bench/jobs.py)
            each = jobs.check(n_jobs, common["threads"], common["distribute"], common["device"], distributed.launched())
            if n_jobs > 1:
                sys.exit(jobs.relaunch(INVOCATION[1:], n_jobs, each, common["threads"] or os.cpu_count() or 1))
        _run_and_report(names, **common, **options.overrides(given))

    command.__name__ = name
    command.__doc__ = doc
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    app.command(name)(command)


def _one_encoding(name: str) -> tuple[str, ...]:
    return (resolve(name),)


_measuring_command(
    "run", "Measure one encoding; NoPE is measured alongside where a ratio needs it.",
    inspect.Parameter("encoding", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, typer.Option(
        "--encoding", "-e", help="The encoding to measure (NoPE runs alongside).",
        autocompletion=options.completer(lambda: list(ENCODINGS), False))]),
    _one_encoding)
_measuring_command(
    "compare", "Measure several encodings in one process, interleaved so machine drift hits them alike.",
    inspect.Parameter("encodings", inspect.Parameter.KEYWORD_ONLY, default="all", annotation=Annotated[str, typer.Option(
        help="Encodings, comma-separated, or all (every encoding that is not a variant).",
        metavar="NAME,...|all", autocompletion=options.completer(lambda: list(ENCODINGS), True))]),
    parse_encodings)


@app.command()
def peers(
    out: Annotated[Path, typer.Option(help="Folder for peers.csv and peers.md.")] = Path("results/peers"),
    preset: Annotated[str, typer.Option(help="pe-bench model preset giving width, depth and heads.")] = "standard",
    seq_len: Annotated[int, typer.Option(help="Tokens per sequence in the training and inference steps.")] = 1024,
    batch_size: Annotated[int, typer.Option(help="Batch of the training and inference steps.")] = 4,
    context: Annotated[int, typer.Option(help="Tokens in the cache when cached decoding is timed.")] = 4096,
    repeats: Annotated[int, typer.Option(help="Timed repeats (decoding: tokens decoded).")] = 5,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: torch's).")] = None,
) -> None:
    """Time x-transformers and Hugging Face's Llama next to pe-bench: same shapes, one run."""
    from pe_bench.peers import peer_settings, require_peers, run_peers, write_peers

    versions = require_peers()
    settings = peer_settings(out, preset, seq_len, batch_size, context, repeats)
    runtime = make_runtime("cpu", "float32", threads)
    with terminations_as_interrupts(), progress_for(console, 1) as progress:
        rows = run_peers(settings, runtime, versions, progress)
    write_peers(out, rows, " ".join(INVOCATION))
    console.print(f"wrote {out}/peers.csv and peers.md ({len(rows)} rows)")


@app.command()
def plot(
    results: Annotated[Path, typer.Option(help="Folder holding the result tables.")] = Path("results"),
    out: Annotated[Path | None, typer.Option(help="Folder for the figures (default: <results>/plots).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Image format.", metavar=options.metavar(FORMATS, False),
                                     autocompletion=options.completer(lambda: FORMATS, False))] = "png",
) -> None:
    """Draw figures from saved result tables, and the summary pages with them; never reruns a benchmark."""
    try:
        report = plot_results(results, out, fmt)
    except NothingToPlot as e:
        _fail(str(e), 1)
    for name, reason in report.skipped:
        console.print(f"skipped {name}: {reason}")
    console.print(f"drew {len(report.drawn)} figures in {(out or results / 'plots')}/")
    if report.pages:
        console.print(f"rewrote {' and '.join(p.name for p in report.pages)} in {results}/ with them")
    if report.note:
        console.print(report.note, markup=False, highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()
