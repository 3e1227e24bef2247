"""The ``pe-bench`` command line: a thin layer that parses, validates, calls the library, renders.

Bad input never ends in a traceback: every usage error, ours or Typer's, becomes one line
on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from pe_bench import __version__
from pe_bench.encodings import ENCODINGS, encoding_class
from pe_bench.errors import InputError
from pe_bench.model import build_model

console = Console()


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"Error: {message}", err=True)
    sys.exit(code)


class OneLineErrors(TyperGroup):
    """Runs the app without Typer's standalone handling so every error can be one line."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
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
    for name, cls in ENCODINGS.items():
        encoding = build_model(name, "quick").encoding
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


def main() -> None:
    """Console-script entry point."""
    app()
