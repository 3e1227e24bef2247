"""The options of ``run`` and ``compare``, declared once: the common ones and every suite's own.

Each suite declares its options as data (``pe_bench.suite.Option``); this module turns them
into Typer parameters with their help, their choices (shown in --help) and shell completion,
so the CLI names no suite and a new suite's options appear without an edit here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from pe_bench.distributed import DISTRIBUTE
from pe_bench.model import PRESETS
from pe_bench.runtime import DEVICES, DTYPES
from pe_bench.options import Option
from pe_bench.suites import SUITES


def completer(choices: Callable[[], Sequence[str]], is_list: bool,
              alone: Sequence[str] = ()) -> Callable[[str], list[str]]:
    """Shell completion of a name, or of the last name of a comma-separated list.

    ``alone``: values accepted only as the whole value (``all``), offered before any comma.
    """
    def complete(incomplete: str) -> list[str]:
        done, _, last = incomplete.rpartition(",") if is_list else ("", "", incomplete)
        prefix = f"{done}," if done else ""
        offered = [*choices(), *(() if done else alone)]
        return [prefix + c for c in offered if c.startswith(last)]

    return complete


def metavar(choices: Sequence[str], is_list: bool) -> str:
    """[a|b|c] for one of several values, [a|b|c],... for a list of them."""
    return f"[{'|'.join(choices)}]" + (",..." if is_list else "")


def choice(*choices: str, help: str, **extra: Any) -> Any:
    """A typer.Option taking one of ``choices``, which --help shows and the shell completes."""
    return typer.Option(help=help, metavar=metavar(choices, False),
                        autocompletion=completer(lambda: choices, False), **extra)


#: the options every measuring command has besides the suites' own: (name, annotation, default)
RUN_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("suite", Annotated[str, typer.Option(
        "--suite", help=f"Suites, comma-separated ({', '.join(SUITES)}), or all.", metavar="SUITE,...|all",
        autocompletion=completer(lambda: list(SUITES), True, alone=("all",)))], "all"),
    ("preset", Annotated[str, choice(*PRESETS, help="Sizes and lengths (tiny: seconds; for smoke tests).")],
     "quick"),
    ("device", Annotated[str, choice(*DEVICES, help="auto picks cuda, then mps, then cpu.")], "auto"),
    ("dtype", Annotated[str, choice(*DTYPES, help="Weights and activations.")], "float32"),
    ("threads", Annotated[int | None, typer.Option(help="CPU threads torch may use (default: all cores).")], None),
    ("seed", Annotated[int | None, typer.Option(
        help="Seed for weights and data, for every suite (default 0; a training suite's preset may run more: "
             "see --seeds, which it cannot be combined with).")], None),
    ("out", Annotated[Path, typer.Option(help="Folder for the result tables (created if missing).")],
     Path("results")),
    ("resume", Annotated[bool, typer.Option("--resume", help="Skip rows already saved in --out for the same "
                                                             "settings.")], False),
    ("distribute", Annotated[str | None, choice(*DISTRIBUTE, help="Under torchrun only: ddp (the default) trains "
                                                                  "each model on all ranks (data sharded); sweep "
                                                                  "deals whole training jobs out to the ranks.")],
     None),
    ("jobs", Annotated[int, typer.Option(help="Train N models at once on this machine, each in its own process "
                                              "with 1/N of the threads (a sweep of N local ranks); suites that "
                                              "time (speed, kvcache) run alone with every thread.")], 1),
    ("plots", Annotated[bool, typer.Option("--plots/--no-plots", help="Draw the figures into <out>/plots/ at the "
                                                                      "end.")], True),
    ("tensorboard", Annotated[Path | None, typer.Option(
        metavar="DIR", help="Log each trained model's loss and learning rate per step and its evaluation per length "
                            'to TensorBoard under DIR (needs pip install "pe-bench[tensorboard]").')], None),
)


def suite_options() -> dict[str, tuple[Option, list[str]]]:
    """Every suite option once, with the suites that read it (``--backends``: speed and kvcache).

    Options of one name in two suites must mean the same (kind, help, choices): one flag
    cannot be parsed or described two ways. Anything else is a programming error, raised here.
    """
    merged: dict[str, tuple[Option, list[str]]] = {}
    for suite in SUITES.values():
        for option in suite.options:
            first, readers = merged.setdefault(option.name, (option, []))
            if (first.kind, first.help, first.choices) != (option.kind, option.help, option.choices):
                raise TypeError(f"suite {suite.name} declares option {option.flag} unlike suite {readers[0]} "
                                f"({option.kind}, {option.help!r} vs {first.kind}, {first.help!r}): give one "
                                "meaning one name")
            readers.append(suite.name)
    return merged


def suite_parameter(option: Option, suites: list[str]) -> inspect.Parameter:
    """The typer parameter of a suite option, shown in the help panel of the suites that read it."""
    panel = f"{', '.join(suites)} options"
    choices = f" One or more of: {', '.join(option.choices)}." if option.is_list and option.choices else (
        f" One of: {', '.join(option.choices)}." if option.choices else "")
    text = f"{option.help[0].upper()}{option.help[1:]}.{choices}"
    if option.is_flag:
        annotation: Any = Annotated[bool, typer.Option(option.flag, help=text, rich_help_panel=panel)]
        default: Any = False
    else:
        extra: dict[str, Any] = {}
        if option.is_list:
            extra["metavar"] = "N,..." if option.kind != "texts" else "NAME,..."
        if option.choices:
            extra["autocompletion"] = completer(lambda: option.choices, option.is_list)
        annotation = Annotated[option.cli_type | None, typer.Option(
            option.flag, help=text, rich_help_panel=panel, show_default="preset", **extra)]
        default = None
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def overrides(given: dict[str, Any]) -> dict[str, Any]:
    """Suite options parsed from the command line's values; None where the preset decides."""
    return {name: option.parse(given[name]) for name, (option, _) in suite_options().items()}


def parameters() -> list[inspect.Parameter]:
    """The keyword parameters every measuring command has: the run options, then each suite's."""
    common = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a) for n, a, d in RUN_OPTIONS]
    return common + [suite_parameter(option, suites) for option, suites in suite_options().values()]
