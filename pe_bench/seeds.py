"""How seeds reach the suites: ``--seed``, ``--seeds``, and resuming with the same seeds.

A suite that trains declares a ``seeds`` settings field (a tuple of ints) with ``seeds_option``; it trains and evaluates every (encoding, variant, seed) separately, and its
reports aggregate over the seeds (stats.py). The other suites keep one ``seed`` field.

- ``--seeds 0,1,2`` (a list: it has a comma) trains those seeds; ``--seeds 3`` (a bare integer)
  is a count, seeds 0, 1 and 2. One seed other than 0 is ``--seed N``.
- ``--seed N`` alone is every suite's seed: the seed of the suites that do not train, and the
  one seed ``(N,)`` of those that do.
- ``--seed`` and ``--seeds`` together are refused: which suite would take which is not obvious.
- Neither: each suite's preset decides (a training suite's preset says how many seeds).

``--resume`` continues a run: a training suite whose seeds differ from those of the run it
resumes (the latest run in the folder's manifest.json with the same settings otherwise) is
refused before any work, since the aggregates would silently mix two seed lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pe_bench.errors import InputError
from pe_bench.options import MAX_SEED, check_seed, option
from pe_bench.results import manifest
from pe_bench.suite import Suite

FLAG = "--seeds"


def parse_seeds(text: str, flag: str = FLAG) -> tuple[int, ...]:
    """'0,1,2' -> (0, 1, 2); '3' (no comma: a count) -> (0, 1, 2). Empty, negative, repeated or
    non-integer items are an InputError."""
    text = str(text).strip()
    allowed = f"a count (3 means seeds 0,1,2) or a comma-separated list of distinct seeds from 0 to {MAX_SEED - 1}"
    if "," not in text:
        try:
            count = int(text)
        except ValueError:
            raise InputError(f"{flag} must be {allowed}, got '{text}'") from None
        if not 1 <= count <= 1000:
            raise InputError(f"{flag} {count} is a count of seeds and must be from 1 to 1000; {allowed}")
        return tuple(range(count))
    seeds: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        try:
            seed = int(item)
        except ValueError:
            raise InputError(f"{flag} must be {allowed}, got '{text}'") from None
        check_seeds((*seeds, seed), flag)
        seeds.append(seed)
    return tuple(seeds)


def check_seeds(seeds: Sequence[int], flag: str = FLAG) -> tuple[int, ...]:
    """``seeds`` if it is a non-empty tuple of distinct seeds torch can take; else an InputError."""
    if not len(seeds):
        raise InputError(f"{flag} is empty; give a count (3 means seeds 0,1,2) or a list such as 0,1,2")
    for seed in seeds:
        check_seed(seed, flag)
    repeated = sorted({s for s in seeds if list(seeds).count(s) > 1})
    if repeated:
        raise InputError(f"{flag} lists seed {repeated[0]} twice; give each seed once")
    return tuple(seeds)


def seeds_option(default: tuple[int, ...]) -> Any:
    """The ``seeds`` field of a training suite's settings, and the CLI's ``--seeds``."""
    return option("seeds to train, each separately: a count (3 means 0,1,2) or a list (0,1,2); intervals and "
                  "tests need 2 or more", default, convert=parse_seeds)


def seed_overrides(suite: Suite, seed: int | None, seeds: tuple[int, ...] | None) -> dict[str, Any]:
    """The settings fields ``--seed`` and ``--seeds`` set in ``suite`` (see the module docstring)."""
    if seed is not None and seeds is not None:
        raise InputError("give --seed (one seed for every suite) or --seeds (the training suites' seeds), not both")
    if suite.trains:
        return {"seeds": seeds if seeds is not None else (seed,) if seed is not None else None}
    return {"seed": seed}


def _without_seeds(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if k not in ("seeds", "retrain")}


def check_resume(out: Path, suite: Suite, settings: Any) -> None:
    """Before ``--resume``: the seeds of ``suite`` are those of the run it resumes, if there is one."""
    if not suite.trains:
        return
    mine = manifest.plain(settings)
    for run in reversed(manifest.runs(out)):
        theirs = run.get("suites", {}).get(suite.name) if isinstance(run.get("suites"), dict) else None
        if not isinstance(theirs, dict) or _without_seeds(theirs) != _without_seeds(mine):
            continue
        if theirs.get("seeds") != mine["seeds"]:
            listed = ",".join(str(s) for s in theirs.get("seeds") or [])
            raise InputError(f"--resume in {out} continues a {suite.name} run with seeds {listed or '(none)'}, "
                             f"not {','.join(str(s) for s in mine['seeds'])}; give --seeds {listed} to resume it, "
                             "or drop --resume")
        return
