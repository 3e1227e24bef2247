"""``pe-bench peers``: the same shapes in x-transformers and Hugging Face's Llama, timed next to
pe-bench in one run (models.py builds them, measure.py times them), written to ``peers.csv``
and ``peers.md`` in a folder pe-bench owns, under its lock, atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pe_bench.errors import InputError
from pe_bench.model import PRESETS
from pe_bench.options import check_int
from pe_bench.peers.measure import PEERS, PeerSettings, run_peers
from pe_bench.peers.models import INSTALL_HINT, require_peers
from pe_bench.results.files import write_atomic
from pe_bench.results.folder import check_writable_folder, claim, locked
from pe_bench.results.summary import markdown_table


def peer_settings(out: Path, preset: str, seq_len: int, batch_size: int, context: int, repeats: int
                  ) -> PeerSettings:
    """Every check before any work (a known preset, positive sizes, a folder pe-bench may write), then the settings."""
    if preset not in PRESETS:
        raise InputError(f"unknown preset '{preset}'; valid: {', '.join(PRESETS)}")
    for value, flag in ((seq_len, "--seq-len"), (batch_size, "--batch-size"), (context, "--context"),
                        (repeats, "--repeats")):
        check_int(value, flag)
    check_writable_folder(out)
    return PeerSettings(model=preset, seq_len=seq_len, batch_size=batch_size, context=context,
                        decode_steps=max(repeats, 2), repeats=repeats)


def peers_markdown(rows: list[dict]) -> str:
    """One line per library x encoding x mode: ms, and the time over pe-bench's with its interval."""
    cells = []
    for r in rows:
        ratio = "" if pd.isna(r["x_pe_bench"]) else (
            f"{r['x_pe_bench']:.2f}x [{r['ratio_ci_low']:.2f}, {r['ratio_ci_high']:.2f}]")
        cells.append([r["library"], r["encoding"], r["mode"], str(r["seq_len"]), str(r["batch_size"]),
                      f"{r['ms_median']:.2f}", ratio])
    return markdown_table(["library", "encoding", "mode", "T / context", "batch", "ms (per token: decode)",
                           "x pe-bench [95% CI]"], cells) + "\n"


def write_peers(out: Path, rows: list[dict], command: str) -> None:
    """``peers.csv`` and ``peers.md`` into ``out`` (checked writable before any work), under its lock."""
    claim(out)
    with locked(out, command):
        frame = pd.DataFrame(rows, columns=list(PEERS.column_names))
        write_atomic(out / PEERS.filename, frame.to_csv(index=False))
        write_atomic(out / "peers.md", peers_markdown(rows))


__all__ = ["INSTALL_HINT", "PEERS", "PeerSettings", "peer_settings", "peers_markdown", "require_peers", "run_peers", "write_peers"]
