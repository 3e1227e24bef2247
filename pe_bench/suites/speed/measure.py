"""Speed suite: what each encoding costs in inference and training, next to NoPE.

For every mode x sequence length, every backend x encoding (same seed, same shape) is
warmed up, then timed in interleaved rounds — (sdpa, A), (sdpa, B), ..., (flex, A), ...,
then again in a rotated order — so machine drift hits them alike. NoPE always runs
alongside, because ``ratio_vs_nope`` — this row's median over NoPE's on NoPE's *fastest*
backend in the same rounds (``nope_backend``), with a 95% bootstrap interval — is the
number that says what the encoding costs: 1.0 means nothing. The ratio to NoPE on the
row's own backend is kept as ``ratio_vs_nope_same_backend``; on its own it flatters an
encoding on a backend that is slow for NoPE too.

Besides the whole step, the positional part is timed on its own (see positional_work.py);
in train mode it runs forward and backward.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch

from pe_bench.backends import fast_path_note
from pe_bench.backends.flex import warm_up_flex_compiler
from pe_bench.errors import Unsupported
from pe_bench.positional_work import positional_work_seconds
from pe_bench.model import Transformer, build_model, too_shallow
from pe_bench.progress import Progress
from pe_bench.results.schema import Schema
from pe_bench.runtime import Runtime, check_dtype_supported
from pe_bench.suite import Rows, RunContext, with_nope
from pe_bench.suites.speed.ratios import add_ratios
from pe_bench.suites.speed.spec import SPEED, SpeedSettings
from pe_bench.timing import interleaved, median_iqr, peak_memory, time_once


def _step_fn(model: Transformer, backend: str, mode: str, tokens: torch.Tensor) -> Callable[[], object]:
    """One inference forward, or one training step (forward, backward, AdamW step), on ``backend``.

    Every backend's step shares the encoding's one model, so each step sets the backend first.
    """
    model.train(mode == "train")  # one mode per group: every step in it agrees
    if mode == "inference":
        def infer() -> object:
            model.backend = backend
            with torch.no_grad():
                return model(tokens)

        return infer
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    def train() -> object:
        model.backend = backend
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(inputs, targets)
        loss.backward()
        optimizer.step()
        return loss

    return train


def _row(name: str, backend: str, mode: str, seq_len: int, settings: SpeedSettings, runtime: Runtime,
         **measured: object) -> dict[str, object]:
    return SPEED.row(encoding=name, backend=backend, mode=mode, seq_len=seq_len, batch_size=settings.batch_size,
                     preset=settings.model, **measured, **runtime.record())


def _measure_group(models: dict[str, Transformer], mode: str, seq_len: int, settings: SpeedSettings,
                   runtime: Runtime, advance: Callable[..., None]) -> list[dict]:
    """Rows for every backend x encoding at one (mode, seq_len), all timed in the same interleaved
    rounds, so the ratio to NoPE's fastest backend compares timings taken side by side."""
    generator = torch.Generator().manual_seed(settings.seed + seq_len)
    tokens = torch.randint(0, 256, (settings.batch_size, seq_len + (mode == "train")), generator=generator)
    tokens = tokens.to(runtime.device)
    steps: dict[tuple[str, str], Callable[[], object]] = {}
    first_call: dict[tuple[str, str], float] = {}
    rows: dict[tuple[str, str], dict] = {}
    for backend in settings.backends:
        for name, model in models.items():
            step = _step_fn(model, backend, mode, tokens)
            try:
                first_call[backend, name] = time_once(step, runtime)  # includes flex compilation, if any
                for _ in range(settings.warmup):
                    step()
            except Unsupported as e:
                rows[backend, name] = _row(name, backend, mode, seq_len, settings, runtime, supported=False,
                                           note=str(e))
                continue
            steps[backend, name] = step

    samples: dict[tuple[str, str], list[float]] = {key: [] for key in steps}
    for key in interleaved(list(steps), settings.repeats):
        samples[key].append(time_once(steps[key], runtime))

    for (backend, name), step in steps.items():
        model = models[name]
        median, iqr = median_iqr(samples[backend, name])
        peak, method = peak_memory(step, runtime)
        model.backend = backend
        pe_s = positional_work_seconds(model, runtime, batch_size=settings.batch_size, q_len=seq_len,
                                       kv_len=seq_len, train=mode == "train", warmup=settings.warmup,
                                       repeats=settings.repeats)
        compiled = backend == "flex" and model.config.compile_flex
        rows[backend, name] = _row(
            name, backend, mode, seq_len, settings, runtime,
            ms_median=median * 1e3, ms_iqr=iqr * 1e3, repeats=len(samples[backend, name]),
            tokens_per_s=settings.batch_size * seq_len / median,
            pe_ms_median=pe_s * 1e3, pe_share=pe_s / median,
            peak_mem_mb=peak / 2**20, peak_mem_method=method,
            compile_s=max(0.0, first_call[backend, name] - median) if compiled else math.nan,
        )
        advance(encoding=name)
    add_ratios(rows, samples)
    for (backend, name), row in rows.items():  # a fast path that cannot run here says so
        note = fast_path_note(backend, models[name].encoding.attention_bias(runtime.dtype), runtime.device)
        if note and row["supported"]:
            row["note"] = "; ".join(n for n in (row["note"], note) if n)
    return [rows[backend, name] for backend in settings.backends for name in models]


def measure(encodings: tuple[str, ...], settings: SpeedSettings, ctx: RunContext) -> Iterator[tuple[Schema, Rows]]:
    """Measure ``encodings`` (NoPE added) and yield each group's rows as soon as it is done.

    A group is one (mode, seq_len) with every backend in it. Yielding per group lets the
    caller save finished rows before the next group starts; a group whose rows are saved
    already (``--resume``: ``ctx.done``) is skipped.
    """
    runtime, progress = ctx.runtime, ctx.progress
    names = with_nope(encodings)
    groups = [(m, t) for m in settings.modes for t in settings.seq_lens]
    backends = settings.backends
    try:
        check_dtype_supported(runtime)
    except Unsupported as e:
        yield SPEED, [_row(n, b, m, t, settings, runtime, supported=False, note=str(e))
                      for m, t in groups for b in backends for n in names]
        return
    refused = {n: note for n in names if (note := too_shallow(n, settings.model))}
    if refused:  # a schedule deeper than the model: a row that says so, not a crash
        yield SPEED, [_row(n, b, m, t, settings, runtime, supported=False, note=note)
                      for m, t in groups for b in backends for n, note in refused.items()]
    names = [n for n in names if n not in refused]
    models = {}
    for name in names:
        model = build_model(name, settings.model, seed=settings.seed)
        models[name] = model.to(device=runtime.device, dtype=runtime.dtype)
    startup_note = ""
    if "flex" in backends and models["nope"].config.compile_flex:
        startup = warm_up_flex_compiler(runtime.device)
        startup_note = f"compile_s excludes the compiler's one-time start-up in this process ({startup:.1f} s)"
    per_group = len(backends) * len(names)
    with progress.task("speed", total=len(groups) * per_group) as advance:
        for mode, seq_len in groups:
            if ctx.done(SPEED, [{"encoding": n, "backend": b, "mode": mode, "seq_len": seq_len}
                                for b in backends for n in names]):
                advance(per_group)
                continue
            rows = _measure_group(models, mode, seq_len, settings, runtime, advance)
            advance(per_group - sum(r["supported"] for r in rows))  # unsupported rows count as done
            for row in rows:
                if row["backend"] == "flex":
                    row["note"] = row["note"] or startup_note
            yield SPEED, rows
