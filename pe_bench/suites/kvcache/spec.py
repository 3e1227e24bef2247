"""What the KV-cache suite measures: its settings, presets, command-line options and tables."""

from __future__ import annotations

from dataclasses import dataclass

from pe_bench.backends import BACKENDS
from pe_bench.model import estimate_bytes, preset
from pe_bench.cache import POLICIES
from pe_bench.errors import InputError
from pe_bench.options import check_choice, check_int, option
from pe_bench.results.schema import MACHINE_KEY, OUTCOME_COLUMNS, RUN_COLUMNS, Schema, integer, number, text


@dataclass(frozen=True)
class KVCacheSettings:
    """What the KV-cache suite measures; presets below; the ``option`` fields are command-line options."""

    model: str  # model preset name
    contexts: tuple[int, ...] = option("context lengths, e.g. 128,512", minimum=2)
    backends: tuple[str, ...] = option("attention backends", tuple(BACKENDS), choices=tuple(BACKENDS))
    policies: tuple[str, ...] = option("cache policies", POLICIES, choices=POLICIES, noun="policy")
    window: int = option("window size W of the window and sinks policies", 64)
    sinks: int = option("sink tokens S kept by the sinks policy", 4)
    decode_steps: int = 16  # tokens decoded (and checked) at the end of each context
    batch_size: int = 1
    offsets: tuple[int, ...] = (1, 10, 100, 1000, 10000)
    shift_len: int = 64
    max_exponent: int = 20  # precision at positions up to 2^max_exponent
    repeats: int = option("timed repeats of each measurement (more when a row is noisy)", 5, minimum=1)
    seed: int = 0

    @property
    def stream_len(self) -> int:
        """Tokens a window/sinks policy streams: the longest context, at most 4 windows."""
        return min(max(self.contexts), 4 * self.window)


PRESETS: dict[str, KVCacheSettings] = {
    "tiny": KVCacheSettings("tiny", contexts=(24, 40), backends=tuple(BACKENDS), window=16, sinks=2,
                            decode_steps=4, offsets=(1, 100, 1000), shift_len=16, max_exponent=12, repeats=2),
    # flex decoding compiles once per cache shape (seconds each), so quick leaves it out
    "quick": KVCacheSettings("quick", contexts=(128, 256, 512), backends=("eager", "sdpa"), window=64, sinks=4),
    "standard": KVCacheSettings("standard", contexts=(256, 512, 1024, 2048, 4096), backends=("sdpa", "flex"),
                                window=256, sinks=4),
    # for GPUs: the large model, contexts to 8192 (the extrapolation suite's longest evaluation)
    "large": KVCacheSettings("large", contexts=(512, 1024, 2048, 4096, 8192), backends=("sdpa", "flex"),
                             window=512, sinks=4),
}


KVCACHE = Schema(
    "kvcache",
    columns=(text("encoding"), text("backend"), text("policy"), text("positions"), integer("window"),
             integer("sinks"), integer("context_len"), text("preset"), number("prefill_ms"),
             number("cached_ms_per_token"), integer("repeats", 0), number("decode_x_nope"), number("ratio_ci_low"),
             number("ratio_ci_high"), number("uncached_ms_per_token"), number("speedup"),
             number("pe_ms_per_step"), number("max_abs_logit_diff"), number("cache_bytes_per_token"),
             number("cache_bytes_formula"), number("extra_state_bytes"), *OUTCOME_COLUMNS, *RUN_COLUMNS),
    key=("encoding", "backend", "policy", "positions", "window", "sinks", "context_len", "preset", *MACHINE_KEY),
    run_key=("preset", *MACHINE_KEY),
)

SHIFT = Schema(
    "shift",
    columns=(text("encoding"), text("backend"), integer("offset"), integer("seq_len"), text("preset"),
             number("max_abs_logit_diff"), *OUTCOME_COLUMNS, *RUN_COLUMNS),
    key=("encoding", "backend", "offset", "seq_len", "preset", *MACHINE_KEY),
    run_key=("seq_len", "preset", *MACHINE_KEY),
)

PRECISION = Schema(
    "precision",
    columns=(text("encoding"), integer("position"), text("dtype"), text("quantity"), number("abs_error"),
             number("rel_error"), text("device"), text("torch_version")),
    key=("encoding", "position", "dtype", "quantity", "device"),
)


def validate(settings: KVCacheSettings) -> None:
    """Contexts of at least 2 tokens, known backends and policies, a window that fits, sinks inside it."""
    for context in settings.contexts:
        check_int(context, "--contexts", minimum=2)
    for backend in settings.backends:
        check_choice(backend, "backend", BACKENDS)
    for policy in settings.policies:
        check_choice(policy, "policy", POLICIES)
    smallest = min(settings.contexts)
    if not 2 <= settings.window <= smallest:
        raise InputError(f"--window must be between 2 and the smallest context ({smallest}), got {settings.window}")
    if not 1 <= settings.sinks < settings.window:
        raise InputError(f"--sinks must be between 1 and --window - 1 ({settings.window - 1}), got {settings.sinks}")


def memory(settings: KVCacheSettings) -> tuple[int, str]:
    """A full forward over the longest context (the reference every cached step is checked against)."""
    C = max(settings.contexts)
    config = preset(settings.model)
    cache = 2 * config.n_layers * config.d_model * C * settings.batch_size * 4
    return estimate_bytes(config, settings.batch_size, C) + cache, f"kvcache at a context of {C:,}"
