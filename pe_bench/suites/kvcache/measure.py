"""KV-cache suite: exactness, decode cost, cache memory and cache policies, per encoding.

For each backend and context length T, every encoding's model (same seed and shape) runs:

- **correctness and decode cost** (policy ``full``): prefill T - n tokens, then decode the
  last n token by token, comparing each step's logits with one full forward over the
  same T tokens; the decode steps are timed in interleaved rounds across encodings, and
  the full forward's time is the cost of producing a token without a cache;
  ``decode_x_nope`` is the per-token time over NoPE's (same backend and rounds), with a
  95% bootstrap interval over the timed steps (``repeats`` of them);
- **per-step positional work**: what one new token costs the encoding (see
  positional_work.py), at context T;
- **cache memory**: bytes per cached token read from the cache tensors, next to the formula
  2 x layers x kv_heads x head_dim x dtype bytes, and the encoding's extra state.

Then, on the first backend, the **policies** ``window`` and ``sinks`` under both position
rules stream max(contexts) tokens (at most 4 windows) one at a time. Under ``original``
positions each step must equal a full forward whose mask lets each query see exactly the
keys that cache holds; under ``slot`` positions the difference from that forward shows
what re-numbering the cache changes. Per-token time is reported at each context length
the stream passes, to show it stays flat once the window is full.

Finally the shift-invariance and precision tables (positions.py).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator

import torch

from pe_bench.cache import policy_mask
from pe_bench.errors import Unsupported
from pe_bench.positional_work import positional_work_seconds
from pe_bench.suites.kvcache.positions import precision_rows, shift_rows
from pe_bench.model import Transformer, build_model, too_shallow
from pe_bench.progress import Progress
from pe_bench.results.schema import Schema
from pe_bench.runtime import Runtime, check_dtype_supported
from pe_bench.suite import RunContext, with_nope
from pe_bench.suites.kvcache.spec import KVCACHE, PRECISION, SHIFT, KVCacheSettings
from pe_bench.bootstrap import ratio_interval
from pe_bench.timing import interleaved, median_iqr, time_once, timed_call


def _row(name: str, backend: str, policy: str, positions: str, window: int, sinks: int, context: int,
         settings: KVCacheSettings, runtime: Runtime, **measured: object) -> dict[str, object]:
    return KVCACHE.row(encoding=name, backend=backend, policy=policy, positions=positions, window=window, sinks=sinks,
                       context_len=context, preset=settings.model, **measured, **runtime.record())


def _formula_bytes(model: Transformer, runtime: Runtime) -> int:
    c = model.config
    return 2 * c.n_layers * c.n_heads * c.head_dim * runtime.dtype.itemsize  # kv_heads = n_heads here


class _Decoder:
    """One encoding's cached decode at one context: prefill, then one timed, checked step at a time."""

    def __init__(self, model: Transformer, tokens: torch.Tensor, reference: torch.Tensor, prefill: int,
                 runtime: Runtime) -> None:
        self.model, self.tokens, self.reference, self.runtime = model, tokens, reference, runtime
        self.cache = model.new_cache(tokens.shape[0], tokens.shape[1])
        self.prefill = prefill
        self.t = prefill
        self.max_diff = 0.0
        self.step_seconds: list[float] = []

    def run_prefill(self) -> float:
        """Seconds the prefill took."""
        self.cache.reset()
        logits, seconds = timed_call(lambda: self.model(self.tokens[:, : self.prefill], cache=self.cache), self.runtime)
        self._check(logits, 0, self.prefill)
        self.t = self.prefill
        return seconds

    def step(self) -> None:
        """Decode the next token; its time is recorded, its logits checked outside the clock."""
        t = self.t
        logits, seconds = timed_call(lambda: self.model(self.tokens[:, t: t + 1], cache=self.cache), self.runtime)
        self.step_seconds.append(seconds)
        self._check(logits, t, t + 1)
        self.t += 1

    def _check(self, logits: torch.Tensor, a: int, b: int) -> None:
        diff = (logits.float() - self.reference[:, a:b].float()).abs().max().item()
        self.max_diff = max(self.max_diff, diff)


def _decode_group(models: dict[str, Transformer], backend: str, context: int, settings: KVCacheSettings,
                  runtime: Runtime, advance: Callable[..., None]) -> list[dict]:
    """Full-policy rows for every encoding at one (backend, context)."""
    generator = torch.Generator().manual_seed(settings.seed + context)
    tokens = torch.randint(0, 256, (settings.batch_size, context), generator=generator).to(runtime.device)
    n_steps = min(settings.decode_steps, context - 1)
    decoders: dict[str, _Decoder] = {}
    rows: dict[str, dict] = {}
    for name, model in models.items():
        model.backend = backend
        try:
            with torch.no_grad():
                reference = model(tokens)  # warm-up, and the logits every cached step must match
                decoder = _Decoder(model, tokens, reference, context - n_steps, runtime)
                decoder.run_prefill()  # warm-up (flex compiles this shape)
        except Unsupported as e:
            rows[name] = _row(name, backend, "full", "original", 0, 0, context, settings, runtime,
                              supported=False, note=str(e))
            continue
        decoders[name] = decoder

    uncached: dict[str, list[float]] = {name: [] for name in decoders}
    prefill: dict[str, list[float]] = {name: [] for name in decoders}
    with torch.no_grad():
        for name in interleaved(list(decoders), settings.repeats):  # like the decode steps below
            uncached[name].append(time_once(lambda: models[name](tokens), runtime))
            prefill[name].append(decoders[name].run_prefill())  # the last one leaves the cache ready
    measured = {name: {"prefill_ms": statistics.median(prefill[name]) * 1e3,
                       "uncached_ms_per_token": statistics.median(uncached[name]) * 1e3} for name in decoders}

    with torch.no_grad():
        for name in interleaved(list(decoders), n_steps):  # every encoding decodes step s before any does s+1
            decoders[name].step()

    for name, decoder in decoders.items():
        model = models[name]
        timed = _timed_steps(decoder)
        cached = statistics.median(timed) * 1e3
        with torch.no_grad():
            pe_s = positional_work_seconds(model, runtime, batch_size=settings.batch_size, q_len=1, kv_len=context,
                                           n_slots=context, repeats=settings.repeats,
                                           rotate_cached_keys=not model.encoding.caches_transformed_keys)
        rows[name] = _row(
            name, backend, "full", "original", 0, 0, context, settings, runtime,
            cached_ms_per_token=cached, repeats=len(timed), speedup=measured[name]["uncached_ms_per_token"] / cached,
            pe_ms_per_step=pe_s * 1e3, max_abs_logit_diff=decoder.max_diff,
            cache_bytes_per_token=decoder.cache.bytes_per_token(), cache_bytes_formula=_formula_bytes(model, runtime),
            extra_state_bytes=model.encoding.state_bytes() + decoder.cache.extra_bytes(),
            **measured[name],
        )
        advance(encoding=name)
    if "nope" in decoders:  # per-token time over NoPE's, decoded step by step in the same rounds
        nope_steps = _timed_steps(decoders["nope"])
        for name, decoder in decoders.items():
            rows[name]["decode_x_nope"] = rows[name]["cached_ms_per_token"] / rows["nope"]["cached_ms_per_token"]
            rows[name]["ratio_ci_low"], rows[name]["ratio_ci_high"] = ratio_interval(_timed_steps(decoder), nope_steps)
    return [rows[name] for name in models]


def _timed_steps(decoder: _Decoder) -> list[float]:
    """The decoding steps that count: the first one may compile (flex)."""
    return decoder.step_seconds[1:] or decoder.step_seconds


def _policy_rows(name: str, model: Transformer, policy: str, rule: str, tokens: torch.Tensor,
                 reference: torch.Tensor, window_forward_s: float, settings: KVCacheSettings,
                 runtime: Runtime) -> list[dict]:
    """Stream ``tokens`` through a window or sinks cache; rows at each context the stream passes."""
    sinks = settings.sinks if policy == "sinks" else 0
    cache = model.new_cache(tokens.shape[0], settings.window, policy=policy, sinks=sinks, position_rule=rule)
    prefill = settings.window // 2
    n = tokens.shape[1]
    seconds = []
    with torch.no_grad():
        logits = model(tokens[:, :prefill], cache=cache)
        diffs = [(logits.float() - reference[:, :prefill].float()).abs().max().item()]
        for t in range(prefill, n):
            logits, step_s = timed_call(lambda: model(tokens[:, t: t + 1], cache=cache), runtime)
            seconds.append(step_s)
            diffs.append((logits.float() - reference[:, t: t + 1].float()).abs().max().item())
        pe_s = positional_work_seconds(model, runtime, batch_size=tokens.shape[0], q_len=1, kv_len=settings.window,
                                       rotate_cached_keys=rule == "slot" or not model.encoding.caches_transformed_keys,
                                       repeats=settings.repeats)
    rows = []
    for context in sorted({c for c in settings.contexts if c <= n} | {n}):
        recent = seconds[max(0, context - prefill - settings.decode_steps): context - prefill]
        cached = statistics.median(recent) * 1e3
        rows.append(_row(
            name, model.backend, policy, rule, settings.window, sinks, context, settings, runtime,
            cached_ms_per_token=cached, repeats=len(recent), uncached_ms_per_token=window_forward_s * 1e3,
            speedup=window_forward_s * 1e3 / cached, pe_ms_per_step=pe_s * 1e3,
            max_abs_logit_diff=max(diffs[: context - prefill + 1]),
            cache_bytes_per_token=cache.bytes_per_token(), cache_bytes_formula=_formula_bytes(model, runtime),
            extra_state_bytes=model.encoding.state_bytes() + cache.extra_bytes(),
            note="vs a full forward masked to the cache's keys, original positions",
        ))
    return rows


def _policy_group(name: str, model: Transformer, backend: str, settings: KVCacheSettings,
                  runtime: Runtime) -> list[dict]:
    """Every (policy, position rule) for one encoding on one backend."""
    model.backend = backend
    n = settings.stream_len
    generator = torch.Generator().manual_seed(settings.seed + 1)
    tokens = torch.randint(0, 256, (settings.batch_size, n), generator=generator).to(runtime.device)
    rows = []
    for policy in (p for p in settings.policies if p != "full"):
        sinks = settings.sinks if policy == "sinks" else 0
        try:
            with torch.no_grad():
                reference = model(tokens, attn_mask=policy_mask(n, settings.window, sinks, runtime.device))
                window_tokens = tokens[:, : settings.window]
                model(window_tokens)
                window_forward_s = median_iqr([time_once(lambda: model(window_tokens), runtime)
                                               for _ in range(settings.repeats)])[0]
        except Unsupported as e:
            for rule in ("original", "slot"):
                rows.append(_row(name, backend, policy, rule, settings.window, sinks, n, settings, runtime,
                                 supported=False, note=str(e)))
            continue
        for rule in ("original", "slot"):
            rows += _policy_rows(name, model, policy, rule, tokens, reference, window_forward_s, settings, runtime)
    return rows


def measure(encodings: tuple[str, ...], settings: KVCacheSettings, ctx: RunContext
            ) -> Iterator[tuple[Schema, list[dict]]]:
    """Measure ``encodings`` (NoPE added); yield (table, rows) as each group finishes.

    Groups whose rows are saved already (``--resume``: ``ctx.done``) are skipped; the
    precision table (a fraction of a second) is always recomputed.
    """
    runtime, progress = ctx.runtime, ctx.progress
    names = with_nope(encodings)
    try:
        check_dtype_supported(runtime)
    except Unsupported as e:
        yield KVCACHE, [_row(n, b, "full", "original", 0, 0, c, settings, runtime, supported=False, note=str(e))
                        for b in settings.backends for c in settings.contexts for n in names]
        return
    refused = {n: note for n in names if (note := too_shallow(n, settings.model))}
    if refused:  # a schedule deeper than the model: a row that says so, not a crash
        yield KVCACHE, [_row(n, b, "full", "original", 0, 0, c, settings, runtime, supported=False, note=note)
                        for b in settings.backends for c in settings.contexts for n, note in refused.items()]
    names = [n for n in names if n not in refused]
    models = {name: build_model(name, settings.model, seed=settings.seed).to(runtime.device, runtime.dtype).eval()
              for name in names}
    policy_backend = settings.backends[0]
    decode_groups = [(b, c) for b in settings.backends for c in settings.contexts] if "full" in settings.policies else []
    bounded = [(p, rule) for p in settings.policies if p != "full" for rule in ("original", "slot")]
    n_tasks = len(names) * (len(decode_groups) + bool(bounded) + 1)
    with progress.task("kvcache", total=n_tasks) as advance:
        for backend, context in decode_groups:
            if ctx.done(KVCACHE, [{"encoding": n, "backend": backend, "policy": "full", "positions": "original",
                                   "window": 0, "sinks": 0, "context_len": context} for n in names]):
                advance(len(names))
                continue
            rows = _decode_group(models, backend, context, settings, runtime, advance)
            advance(sum(not r["supported"] for r in rows))
            yield KVCACHE, rows
        for name, model in models.items() if bounded else ():
            if not ctx.done(KVCACHE, [{"encoding": name, "backend": policy_backend, "policy": p, "positions": rule,
                                       "window": settings.window, "sinks": settings.sinks if p == "sinks" else 0,
                                       "context_len": settings.stream_len} for p, rule in bounded]):
                yield KVCACHE, _policy_group(name, model, policy_backend, settings, runtime)
            advance(encoding=name)
        for backend in settings.backends:
            if not ctx.done(SHIFT, [{"encoding": n, "backend": backend, "offset": o}
                                    for n in names for o in settings.offsets]):
                with torch.no_grad():
                    yield SHIFT, [SHIFT.row(**r, preset=settings.model)
                                  for r in shift_rows(models, backend, settings.offsets, settings.shift_len, runtime,
                                                      settings.seed)]
        advance(len(names))
        head_dim, d_model = models["nope"].config.head_dim, models["nope"].config.d_model
        yield PRECISION, [PRECISION.row(**r) for r in precision_rows(head_dim, d_model, settings.max_exponent,
                                                                     settings.seed)]

