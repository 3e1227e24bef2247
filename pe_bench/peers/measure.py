"""Time pe-bench and its peers side by side, in one run: training step, inference step, cached decoding.

Every (library, encoding) is warmed up, then timed in the same interleaved rounds, so drift
hits all alike; ``x_pe_bench`` is a row's median over pe-bench's with the same encoding and
mode (below 1: the peer is faster), with a 95% bootstrap interval. Cached decoding (batch 1)
compares pe-bench's KV cache with Hugging Face's DynamicCache: prefill the context, then one
token per step, each step timed; x-transformers is not decoded here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from pe_bench.bootstrap import ratio_interval
from pe_bench.peers.models import LLAMA, PEBENCH, PeerModel, build_peers
from pe_bench.model import preset
from pe_bench.progress import Progress
from pe_bench.results.schema import OUTCOME_COLUMNS, RUN_COLUMNS, Schema, integer, number, text
from pe_bench.runtime import Runtime
from pe_bench.timing import interleaved, median_iqr, time_once, timed_call

PEERS = Schema(
    "peers",
    columns=(text("library"), text("library_version"), text("encoding"), text("mode"), integer("seq_len"),
             integer("batch_size"), text("preset"), number("ms_median"), number("ms_iqr"), integer("repeats", 0),
             number("x_pe_bench"), number("ratio_ci_low"), number("ratio_ci_high"), *OUTCOME_COLUMNS, *RUN_COLUMNS),
    key=("library", "encoding", "mode", "seq_len", "batch_size", "preset", "device", "dtype", "threads"),
)


@dataclass(frozen=True)
class PeerSettings:
    """What ``pe-bench peers`` measures."""

    model: str = "standard"  # pe-bench model preset: width, depth, heads
    seq_len: int = 1024  # training and inference steps
    batch_size: int = 4
    context: int = 4096  # cached decoding: tokens in the cache
    decode_steps: int = 16
    warmup: int = 1
    repeats: int = 5
    seed: int = 0


def _step(model: PeerModel, mode: str, tokens: torch.Tensor) -> Callable[[], object]:
    module = model.module
    module.train(mode == "train")
    if mode == "inference":
        def infer() -> object:
            with torch.no_grad():
                return model.logits(tokens)

        return infer
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    def train() -> object:
        optimizer.zero_grad(set_to_none=True)
        logits = model.logits(inputs)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        return loss

    return train


def _decoder(model: PeerModel, tokens: torch.Tensor, prefill: int, runtime: Runtime) -> Callable[[int], float] | None:
    """After a prefill of ``prefill`` tokens, a function that decodes token ``t`` and returns its seconds;
    None for a library not decoded here."""
    module = model.module.eval()
    if model.library == PEBENCH:
        cache = module.new_cache(tokens.shape[0], tokens.shape[1])
        step = lambda x: module(x, cache=cache)  # noqa: E731
    elif model.library == LLAMA:
        from transformers import DynamicCache

        state = {"cache": DynamicCache()}

        def step(x: torch.Tensor) -> torch.Tensor:
            out = module(x, past_key_values=state["cache"], use_cache=True)
            state["cache"] = out.past_key_values
            return out.logits
    else:
        return None
    with torch.no_grad():
        step(tokens[:, :prefill])

    def one(t: int) -> float:
        with torch.no_grad():
            return timed_call(lambda: step(tokens[:, t: t + 1]), runtime)[1]

    return one


def run_peers(settings: PeerSettings, runtime: Runtime, versions: dict[str, str],
              progress: Progress | None = None) -> list[dict]:
    """Every library x encoding x mode, timed side by side; rows of ``PEERS``."""
    progress = progress or Progress()
    config = preset(settings.model)
    models = build_peers(config, max(settings.seq_len + 1, settings.context + settings.decode_steps), settings.seed)
    for m in models:
        m.module.to(device=runtime.device, dtype=runtime.dtype)
    versions = {PEBENCH: _own_version(), **versions}
    rows: list[dict] = []
    generator = torch.Generator().manual_seed(settings.seed)

    def row(m: PeerModel, mode: str, seq_len: int, batch: int, samples: list[float], **extra: object) -> dict:
        median, iqr = median_iqr(samples) if samples else (math.nan, math.nan)
        return PEERS.row(library=m.library, library_version=versions[m.library], encoding=m.encoding, mode=mode,
                         seq_len=seq_len, batch_size=batch, preset=settings.model, ms_median=median * 1e3,
                         ms_iqr=iqr * 1e3, repeats=len(samples), **extra, **runtime.record())

    with progress.task("peers", total=3 * len(models)) as advance:
        for mode in ("inference", "train"):
            tokens = torch.randint(0, config.vocab_size, (settings.batch_size, settings.seq_len + (mode == "train")),
                                   generator=generator).to(runtime.device)
            steps = {i: _step(m, mode, tokens) for i, m in enumerate(models)}
            for step in steps.values():
                for _ in range(settings.warmup):
                    step()
            samples: dict[int, list[float]] = {i: [] for i in steps}
            for i in interleaved(list(steps), settings.repeats):
                samples[i].append(time_once(steps[i], runtime))
            rows += _with_ratios(models, samples, lambda m, s: row(m, mode, settings.seq_len, settings.batch_size, s))
            advance(len(models))
        tokens = torch.randint(0, config.vocab_size, (1, settings.context + settings.decode_steps),
                               generator=generator).to(runtime.device)
        decoders = {}
        for i, m in enumerate(models):
            one = _decoder(m, tokens, settings.context, runtime)
            if one is not None:
                decoders[i] = one
        samples = {i: [] for i in decoders}
        for t in range(settings.context, settings.context + settings.decode_steps):
            for i in interleaved(list(decoders), 1):
                samples[i].append(decoders[i](t))
        decoded = _with_ratios([models[i] for i in decoders], {j: samples[i] for j, i in enumerate(decoders)},
                               lambda m, s: row(m, "decode", settings.context, 1, s))
        rows += decoded
        advance(len(models))
    return rows


def _with_ratios(models: list[PeerModel], samples: dict[int, list[float]],
                 make: Callable[[PeerModel, list[float]], dict]) -> list[dict]:
    """Rows with ``x_pe_bench``: over pe-bench's row of the same encoding, with its bootstrap interval."""
    ours = {m.encoding: samples[i] for i, m in enumerate(models) if m.library == PEBENCH}
    out = []
    for i, m in enumerate(models):
        r = make(m, samples[i])
        if m.encoding in ours:
            r["x_pe_bench"] = r["ms_median"] / (median_iqr(ours[m.encoding])[0] * 1e3)
            r["ratio_ci_low"], r["ratio_ci_high"] = ratio_interval(samples[i], ours[m.encoding])
        out.append(r)
    return out


def _own_version() -> str:
    from pe_bench import __version__

    return __version__
