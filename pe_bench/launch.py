"""``python -m pe_bench.launch [torchrun options] compare ...``: torchrun for pe-bench, minus its traceback.

``torchrun -m pe_bench compare ...`` works, but when a rank exits non-zero — bad input exits 2,
after pe-bench's own one-line message — torchrun's agent raises ``ChildFailedError`` and prints
its traceback, and a scheduler sees exit code 1. This wrapper starts the same elastic launcher
with the same options (everything before the pe-bench command: ``--nproc-per-node 4
--standalone``, ``--nnodes``, ``--rdzv-endpoint`` ...), and when a rank fails it ends with that
rank's exit code (2 for bad input, 128 + N for signal N) and the one line the rank printed,
nothing more.
"""

from __future__ import annotations

import logging
import signal
import sys

#: pe-bench's subcommands: the first of them in the arguments starts pe-bench's own
COMMANDS = ("run", "compare", "check", "list", "show", "plot", "peers")


def split(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the launcher's options, the pe-bench command): split at the first pe-bench subcommand."""
    for i, word in enumerate(argv):
        if word in COMMANDS:
            return argv[:i], argv[i:]
    raise SystemExit(f"Error: no pe-bench command in {' '.join(argv) or '(nothing)'}; usage: python -m "
                     f"pe_bench.launch [torchrun options] {{{','.join(COMMANDS)}}} ... (e.g. --nproc-per-node 2 "
                     "--standalone compare --preset quick)")


def failure_code(exit_codes: list[int]) -> int:
    """The exit code a scheduler should see: bad input (2) if any rank said so, else the first
    failure's (a negative code, killed by signal N, is 128 + N)."""
    if 2 in exit_codes:
        return 2
    code = exit_codes[0] if exit_codes else 1
    return 128 - code if code < 0 else code or 1


def main(argv: list[str] | None = None) -> int:
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    launcher, command = split(list(sys.argv[1:] if argv is None else argv))
    args = torchrun.parse_args([*launcher, "-m", "pe_bench", *command])
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # the failure is the rank's line
    try:
        torchrun.run(args)
    except ChildFailedError as e:
        return failure_code([failure.exitcode for failure in e.failures.values()])
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except SignalException as e:  # the agent's own Ctrl-C or SIGTERM: the ranks said what they saved
        return 128 + int(e.sigval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
