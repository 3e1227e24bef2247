"""SIGTERM and SIGHUP handled like Ctrl-C, and no second interrupt while the process cleans up.

``timeout``, ``kill`` and batch schedulers end a process with SIGTERM, a closed terminal
sends SIGHUP; by default either kills Python on the spot, leaving a temporary file behind
and a manifest that says "running" forever. Inside ``terminations_as_interrupts()`` the
three signals raise ``Interrupted``, a ``KeyboardInterrupt`` that carries the exit code a
shell expects (128 + the signal's number: 130 for SIGINT, 129 for SIGHUP, 143 for SIGTERM),
so every ``finally`` and ``except BaseException`` that already handles Ctrl-C — temporary
files removed, the manifest marked "interrupted" — handles them too.

After the first of them, all three are ignored: pressing Ctrl-C several times, or a
scheduler sending SIGTERM twice, cannot interrupt the cleanup, nor the interpreter's exit
hooks (torch's among them), which would otherwise print a traceback after the clean message.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: the signals turned into ``Interrupted`` (SIGHUP does not exist on Windows)
SIGNALS: tuple[signal.Signals, ...] = tuple(
    s for s in (getattr(signal, name, None) for name in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None)

CTRL_C_EXIT_CODE = 128 + signal.SIGINT  # 130


class Interrupted(KeyboardInterrupt):
    """A SIGINT, SIGTERM or SIGHUP, raised where the program was; ``exit_code`` is 128 + its number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(signal.Signals(signum).name)


def exit_code(interrupt: BaseException) -> int:
    """The exit code an interrupt should end the process with: its own, or 130 (Ctrl-C)."""
    code = getattr(interrupt, "exit_code", None)
    return code if isinstance(code, int) else CTRL_C_EXIT_CODE


def ignore_interrupts() -> None:
    """Ignore SIGINT, SIGTERM and SIGHUP from now on (the process is cleaning up and exiting).

    Does nothing outside the main thread, where signal handlers cannot be set.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        try:
            signal.signal(signum, signal.SIG_IGN)
        except (ValueError, OSError):  # an embedding interpreter may refuse
            pass


@contextmanager
def terminations_as_interrupts(*, ignore_after_interrupt: bool = True) -> Iterator[None]:
    """While the block runs, SIGINT, SIGTERM and SIGHUP raise ``Interrupted`` (a KeyboardInterrupt).

    The first of them raises; from then on all three are ignored. A signal the process
    started with ignored (``nohup`` ignores SIGHUP; a shell without job control ignores
    SIGINT in background jobs) stays ignored.

    On leaving the block the previous handlers come back — unless a signal was delivered and
    ``ignore_after_interrupt`` is true (the default): the caller is then expected to report
    and exit, and re-arming the handlers would let a second Ctrl-C break its cleanup and
    print a traceback from the interpreter's exit hooks. Pass False from code that goes on
    running after an interrupt.

    If a handler's exception was swallowed where Python cannot raise (a ``__del__``, a
    callback reported as "Exception ignored"), the interrupt is raised again when the block
    ends, so a delivered signal always ends the block with ``Interrupted``.

    Outside the main thread (where handlers cannot be installed) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    delivered: list[Interrupted] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if delivered:  # a signal that arrived while the first one's handler was being set up
            return
        delivered.append(Interrupted(signum))
        ignore_interrupts()
        raise delivered[0]

    previous: dict[signal.Signals, object] = {}
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if current == signal.SIG_IGN:
            continue
        try:
            signal.signal(signum, handler)
        except (ValueError, OSError):
            continue
        previous[signum] = current
    try:
        yield
    finally:
        if not (delivered and ignore_after_interrupt):
            for signum, old in previous.items():
                signal.signal(signum, old if old is not None else signal.SIG_DFL)  # type: ignore[arg-type]
    if delivered:  # the block ended normally although a signal arrived: its exception was swallowed
        raise delivered[0]
