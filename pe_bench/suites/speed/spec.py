"""What the speed suite measures: its settings, presets, command-line options and table."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pe_bench.backends import BACKENDS
from pe_bench.model import estimate_bytes, preset
from pe_bench.options import check_choice, check_int, option
from pe_bench.results.schema import MACHINE_KEY, OUTCOME_COLUMNS, RUN_COLUMNS, Schema, flag, integer, number, text

MODES = ("inference", "train")


@dataclass(frozen=True)
class SpeedSettings:
    """What the speed suite measures; presets below; the ``option`` fields are command-line options."""

    model: str  # model preset name (pe_bench.model.PRESETS)
    seq_lens: tuple[int, ...] = option("sequence lengths, e.g. 128,256,512")
    batch_size: int = option("batch size", minimum=1)
    backends: tuple[str, ...] = option("attention backends", tuple(BACKENDS), choices=tuple(BACKENDS))
    modes: tuple[str, ...] = option("inference, training step, or both", MODES, choices=MODES)
    warmup: int = 2
    repeats: int = option("timed repeats of each measurement (more when a row is noisy)", 5, minimum=1)
    seed: int = 0


PRESETS: dict[str, SpeedSettings] = {
    "tiny": SpeedSettings("tiny", seq_lens=(32, 64), batch_size=2, warmup=1, repeats=3),
    # eager is left to standard: it is the slowest backend and the quick comparison has a time budget
    "quick": SpeedSettings("quick", seq_lens=(128, 256, 512), batch_size=4, backends=("sdpa", "flex"),
                           warmup=1, repeats=5),
    "standard": SpeedSettings("standard", seq_lens=(256, 512, 1024, 2048), batch_size=4, warmup=1, repeats=5),
    # for GPUs: the large model (12 layers, width 768) to T = 4096; eager would materialize 4096^2 scores per head
    "large": SpeedSettings("large", seq_lens=(512, 1024, 2048, 4096), batch_size=2, backends=("sdpa", "flex"),
                           warmup=2, repeats=10),
}

#: ``noisy``: true where the row's timings spread too widely for its ratio to NoPE to mean anything
#: (pe_bench.noise.is_noisy); empty where nothing was timed, and in tables written before the column existed
#: (the report then judges those rows from their own numbers: pe_bench.noise.noisy_mask)
SPEED = Schema(
    "speed",
    columns=(text("encoding"), text("backend"), text("mode"), integer("seq_len"), integer("batch_size"),
             text("preset"), number("ms_median"), number("ms_iqr"), number("tokens_per_s"), number("pe_ms_median"),
             number("pe_share"), integer("repeats", 0), number("ratio_vs_nope"), number("ratio_ci_low"),
             number("ratio_ci_high"), flag("noisy", math.nan), text("nope_backend", ""),
             number("ratio_vs_nope_same_backend"),
             number("peak_mem_mb"), text("peak_mem_method", ""),
             number("compile_s"), *OUTCOME_COLUMNS, *RUN_COLUMNS),
    key=("encoding", "backend", "mode", "seq_len", "batch_size", "preset", *MACHINE_KEY),
    run_key=("batch_size", "preset", *MACHINE_KEY),
)


def validate(settings: SpeedSettings) -> None:
    """Every length, the batch size and the repeats positive, every backend and mode known."""
    for value in settings.seq_lens:
        check_int(value, "--seq-lens")
    check_int(settings.batch_size, "--batch-size")
    check_int(settings.repeats, "--repeats")
    for backend in settings.backends:
        check_choice(backend, "backend", BACKENDS)
    for mode in settings.modes:
        check_choice(mode, "mode", MODES)


def memory(settings: SpeedSettings) -> tuple[int, str]:
    """The longest length's step, with its backward if training is measured."""
    T = max(settings.seq_lens)
    need = estimate_bytes(preset(settings.model), settings.batch_size, T, train="train" in settings.modes)
    return need, f"speed at T = {T:,}, batch {settings.batch_size}"
