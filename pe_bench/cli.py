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
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Any  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from typer.core import TyperGroup  # noqa: E402

from pe_bench import __version__  # noqa: E402
from pe_bench.encodings import ENCODINGS, base_encodings, build_encoding, encoding_class  # noqa: E402
from pe_bench.errors import InputError  # noqa: E402
from pe_bench.figures import FORMATS, NothingToPlot  # noqa: E402
from pe_bench.model import PRESETS  # noqa: E402
from pe_bench.options import check_out_dir, parse_choices  # noqa: E402
from pe_bench.progress import RichProgress  # noqa: E402
from pe_bench.results.summary import summary_table  # noqa: E402
from pe_bench.runner import execute, finish, plan, plot_results  # noqa: E402
from pe_bench.runtime import DEVICES, DTYPES, make_runtime  # noqa: E402
from pe_bench.suite import Option  # noqa: E402
from pe_bench.suites import SUITES  # noqa: E402

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


def _completer(choices: Callable[[], Sequence[str]], is_list: bool) -> Callable[[str], list[str]]:
    """Shell completion of a name, or of the last name of a comma-separated list."""
    def complete(incomplete: str) -> list[str]:
        done, _, last = incomplete.rpartition(",") if is_list else ("", "", incomplete)
        prefix = f"{done}," if done else ""
        return [prefix + c for c in choices() if c.startswith(last)]

    return complete


def _metavar(choices: Sequence[str], is_list: bool) -> str:
    """[a|b|c] for one of several values, [a|b|c],... for a list of them."""
    return f"[{'|'.join(choices)}]" + (",..." if is_list else "")


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
        family = cls.family.value + (f", variant of {cls.variant_of}" if cls.variant_of else "")
        table.add_row(name, family, max_len, f"{n_params:,}", cls.description)
    console.print(table)


EncodingName = Annotated[str, typer.Argument(help="Encoding name, as `pe-bench list` prints it.",
                                             autocompletion=_completer(lambda: list(ENCODINGS), False))]


@app.command("show")
def show(name: EncodingName) -> None:
    """Explain one encoding: its family, limits and how it works."""
    cls = encoding_class(name)
    module_doc = sys.modules[cls.__module__].__doc__ or ""
    console.print(f"[bold]{name}[/bold] ({cls.family.value}): {cls.description}")
    console.print(module_doc.strip(), markup=False, highlight=False)


def _choice(*choices: str, help: str, **extra: Any) -> Any:
    """A typer.Option taking one of ``choices``, which --help shows and the shell completes."""
    return typer.Option(help=help, metavar=_metavar(choices, False),
                        autocompletion=_completer(lambda: choices, False), **extra)


#: the options every measuring command has besides the suites' own: (name, annotation, default)
RUN_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("suite", Annotated[str, typer.Option(
        "--suite", help="Suites, comma-separated, or all.", metavar=_metavar((*SUITES, "all"), True),
        autocompletion=_completer(lambda: list(SUITES), True))], "all"),
    ("preset", Annotated[str, _choice(*PRESETS, help="Sizes and lengths (tiny: seconds; for smoke tests).")],
     "quick"),
    ("device", Annotated[str, _choice(*DEVICES, help="auto picks cuda, then mps, then cpu.")], "auto"),
    ("dtype", Annotated[str, _choice(*DTYPES, help="Weights and activations.")], "float32"),
    ("threads", Annotated[int | None, typer.Option(help="CPU threads torch may use (default: all cores).")], None),
    ("seed", Annotated[int, typer.Option(help="Seed for weights and data.")], 0),
    ("out", Annotated[Path, typer.Option(help="Folder for the result tables (created if missing).")],
     Path("results")),
    ("resume", Annotated[bool, typer.Option("--resume", help="Skip rows already saved in --out for the same "
                                                             "settings.")], False),
    ("plots", Annotated[bool, typer.Option("--plots/--no-plots", help="Draw the figures into <out>/plots/ at the "
                                                                      "end.")], True),
)


def _suite_options() -> dict[str, tuple[Option, list[str]]]:
    """Every suite option once, with the suites that read it (``--backends``: speed and kvcache)."""
    merged: dict[str, tuple[Option, list[str]]] = {}
    for suite in SUITES.values():
        for option in suite.options:
            merged.setdefault(option.name, (option, []))[1].append(suite.name)
    return merged


def _suite_parameter(option: Option, suites: list[str]) -> inspect.Parameter:
    """The typer parameter of a suite option: its help names the suites that read it."""
    text = f"{', '.join(suites)}: {option.help}."
    if option.is_flag:
        annotation: Any = Annotated[bool, typer.Option(option.flag, help=text)]
        default: Any = False
    else:
        extra: dict[str, Any] = {"metavar": "N,..."} if option.is_list else {}
        if option.choices:
            extra = dict(metavar=_metavar(option.choices, option.is_list),
                         autocompletion=_completer(lambda: option.choices, option.is_list))
        annotation = Annotated[option.type | None, typer.Option(option.flag, help=text, **extra)]
        default = None
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _overrides(given: dict[str, Any]) -> dict[str, Any]:
    """Suite options parsed from the command line; None where the preset decides."""
    overrides = {}
    for name, (option, _) in _suite_options().items():
        value = given[name]
        overrides[name] = option.parse(value, option.flag) if option.is_flag or value is not None else None
    return overrides


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
    console.print(summary_table(done.summary, [s.summary for s in SUITES.values()]))
    for name, reason in done.skipped_figures:
        console.print(f"skipped figure {name}: {reason}")
    console.print(f"wrote {out}/summary.md, summary.csv, manifest.json, the tables"
                  + (f" and {len(done.figures)} figures in {out}/plots/" if done.figures else ""))


def _measuring_command(name: str, doc: str, encodings: inspect.Parameter,
                       to_names: Callable[[str], tuple[str, ...]]) -> None:
    """Register ``run`` or ``compare``: the same options, declared once; only how encodings are named differs."""
    parameters = [encodings]
    parameters += [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
                   for n, a, d in RUN_OPTIONS]
    parameters += [_suite_parameter(option, suites) for option, suites in _suite_options().values()]

    def command(**given: Any) -> None:
        names = to_names(given[encodings.name])
        common = {n: given[n] for n, _, _ in RUN_OPTIONS}
        _run_and_report(names, overrides=_overrides(given), **common)

    command.__name__ = name
    command.__doc__ = doc
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    app.command(name)(command)


def _one_encoding(name: str) -> tuple[str, ...]:
    encoding_class(name)
    return (name,)


_measuring_command(
    "run", "Measure one encoding; NoPE is measured alongside where a ratio needs it.",
    inspect.Parameter("encoding", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, typer.Option(
        "--encoding", "-e", help="The encoding to measure (NoPE runs alongside).",
        autocompletion=_completer(lambda: list(ENCODINGS), False))]),
    _one_encoding)
_measuring_command(
    "compare", "Measure several encodings in one process, interleaved so machine drift hits them alike.",
    inspect.Parameter("encodings", inspect.Parameter.KEYWORD_ONLY, default="all", annotation=Annotated[str, typer.Option(
        help="Encodings, comma-separated, or all (every encoding that is not a variant).",
        metavar="NAME,...|all", autocompletion=_completer(lambda: list(ENCODINGS), True))]),
    lambda text: parse_choices(text, "--encodings", list(ENCODINGS), allow_all=True, all_means=base_encodings()))


@app.command()
def plot(
    results: Annotated[Path, typer.Option(help="Folder holding the result tables.")] = Path("results"),
    out: Annotated[Path | None, typer.Option(help="Folder for the figures (default: <results>/plots).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Image format.", metavar=_metavar(FORMATS, False),
                                     autocompletion=_completer(lambda: FORMATS, False))] = "png",
) -> None:
    """Draw figures from saved result tables; never reruns a benchmark."""
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
