"""The ``pe-bench`` command's entry point: import the CLI (torch, matplotlib: a second or two), then run it.

Importing happens here, inside a handler, so a Ctrl-C during those first seconds ends the
command with one line and exit code 130 instead of Python's import traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point."""
    try:
        from pe_bench.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        sys.exit(130)
    cli_main()


if __name__ == "__main__":
    main()
