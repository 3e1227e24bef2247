"""Length-extrapolation suite: train at length L, evaluate at L, 2L, 4L, 8L, 16L.

Every encoding trains the same byte-level model with the same seed, data order, optimizer
and steps (training.py), on the default corpus or ``--corpus`` (data.py). Trained models are
checkpointed under ``<out>/checkpoints/`` by a hash of everything that determines them and
reused by later runs. Then, on the validation split:

- perplexity at each evaluation length, with non-overlapping and with sliding windows
  (evaluate.py) — the ALiBi paper's Table 2, at small scale;
- for the RoPE model, the scaling variants of rope_scaling.py applied at evaluation (no
  fine-tuning), each at s = E/L; the dynamic variant's cache pitfall: decoding with a
  KV cache vs one full forward at 4L; and LongRoPE's switch from its short to its long factors
  at L: keys cached before the switch vs re-prefilling after it (what Hugging Face does);
- streaming 8L tokens through a window of L tokens, with and without 4 attention sinks,
  under original and slot positions, against one full forward over the same tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from pe_bench import checkpoints
from pe_bench.data import Corpus, load_corpus
from pe_bench.encodings.rope_scaling import scaled_rope
from pe_bench.errors import Unsupported
from pe_bench.evaluate import cached_decode_divergence, full_nll, nonoverlap_nll, perplexity, sliding_nll, stream_nll
from pe_bench.model import Transformer, build_model, too_shallow
from pe_bench.results.schema import Schema
from pe_bench.runtime import Runtime
from pe_bench.suite import RunContext
from pe_bench.suites.extrapolation.spec import (
    EXTRAPOLATION, STREAM_POLICIES, TRAINING, ExtrapolationSettings, checkpoint,
)
from pe_bench.suites.extrapolation.report import board_run
from pe_bench.training import DIVERGED, TrainResult, train


def _row(settings: ExtrapolationSettings, seed: int, corpus: Corpus, runtime: Runtime, params: int,
         **fields: object) -> dict[str, object]:
    return EXTRAPOLATION.row(
        train_len=settings.train_len, steps=settings.steps, seed=seed, params=params, preset=settings.model,
        device=runtime.device_name, dtype=runtime.dtype_name, corpus=corpus.name, corpus_checksum=corpus.checksum,
        torch_version=torch.__version__, threads=runtime.threads, **fields)


def _lm_rows(model: Transformer, variant: str, tokens: torch.Tensor, sliding_tokens: torch.Tensor,
             settings: ExtrapolationSettings, make_row: Callable[..., dict],
             encoding: Callable[[int], object] | None = None) -> list[dict]:
    """Non-overlapping and sliding perplexity at every evaluation length.

    ``encoding(E)``, if given, is swapped into the model before evaluating at length E
    (the RoPE scaling variants, built for s = E / L).
    """
    rows = []
    for length in settings.lengths:
        if encoding is not None:
            model.encoding = encoding(length)
        for mode, stride in (("nonoverlap", 0), ("sliding", min(settings.sliding_stride, length))):
            common = dict(variant=variant, task="lm", eval_len=length, eval_mode=mode, metric="ppl", stride=stride)
            try:
                nll = nonoverlap_nll(model, tokens, length) if mode == "nonoverlap" else \
                    sliding_nll(model, sliding_tokens, length, stride)
                rows.append(make_row(**common, value=perplexity(nll)))
            except Unsupported as e:
                rows.append(make_row(**common, value=math.nan, supported=False, note=str(e)))
    return rows


def _stream_rows(model: Transformer, variant: str, tokens: torch.Tensor, settings: ExtrapolationSettings,
                 runtime: Runtime, make_row: Callable[..., dict]) -> list[dict]:
    """Streaming through a window of L with and without sinks, and one full forward for reference."""
    n = settings.stream_len
    rows = []
    common = dict(variant=variant, task="stream", eval_len=n)
    try:
        rows.append(make_row(**common, eval_mode="full", metric="ppl", value=perplexity(full_nll(model, tokens))))
    except Unsupported as e:
        rows.append(make_row(**common, eval_mode="full", metric="ppl", value=math.nan, supported=False, note=str(e)))
    for policy, rule in STREAM_POLICIES:
        mode = f"{policy}-{rule}"
        sinks = settings.sinks if policy == "sinks" else 0
        try:
            nll, ms = stream_nll(model, tokens, runtime, window=settings.train_len, policy=policy, sinks=sinks,
                                 position_rule=rule)
            rows.append(make_row(**common, eval_mode=mode, metric="ppl", value=perplexity(nll)))
            rows.append(make_row(**common, eval_mode=mode, metric="ms_per_token", value=ms))
        except Unsupported as e:
            for metric in ("ppl", "ms_per_token"):
                rows.append(make_row(**common, eval_mode=mode, metric=metric, value=math.nan, supported=False,
                                     note=str(e)))
    return rows


def _dynamic_rows(model: Transformer, tokens: torch.Tensor, settings: ExtrapolationSettings,
                  make_row: Callable[..., dict]) -> list[dict]:
    """rope-dynamic with a KV cache vs one full forward at 4L: the cached keys' stale scale."""
    length = 4 * settings.train_len
    model.encoding = scaled_rope("rope-dynamic", model.encoding, settings.train_len, 1.0)
    result = cached_decode_divergence(model, tokens[: length + 1], prefill=settings.train_len)
    common = dict(variant="rope-dynamic", task="lm", eval_len=length)
    return [
        make_row(**common, eval_mode="cached_decode", metric="max_abs_logit_diff", value=result["max_abs_logit_diff"],
                 note="KV-cached decoding vs one full forward over the same tokens, positions L..4L"),
        make_row(**common, eval_mode="cached_decode", metric="ppl", value=perplexity(result["nll_cached"])),
        make_row(**common, eval_mode="full_forward", metric="ppl", value=perplexity(result["nll_full"])),
    ]


def _longrope_switch_rows(model: Transformer, tokens: torch.Tensor, settings: ExtrapolationSettings,
                          make_row: Callable[..., dict]) -> list[dict]:
    """rope-longrope across its switch at L: prefilled with the short factors (within L: s = 1), decoded to
    4L with the long ones (s = 4) over the same cache, against re-prefilling with the long factors."""
    length, rope = 4 * settings.train_len, model.encoding
    model.encoding = scaled_rope("rope-longrope", rope, settings.train_len, 1.0)
    result = cached_decode_divergence(model, tokens[: length + 1], prefill=settings.train_len,
                                      switch_to=scaled_rope("rope-longrope", rope, settings.train_len, 4.0))
    common = dict(variant="rope-longrope", task="lm", eval_len=length)
    note = ("the prefill's cached keys keep the short factors; Hugging Face drops the cache and re-prefills when a "
            "sequence passes L, which is the full forward ('reprefill')")
    return [
        make_row(**common, eval_mode="cached_switch", metric="max_abs_logit_diff", value=result["max_abs_logit_diff"],
                 note=note),
        make_row(**common, eval_mode="cached_switch", metric="ppl", value=perplexity(result["nll_cached"])),
        make_row(**common, eval_mode="reprefill", metric="ppl", value=perplexity(result["nll_full"])),
    ]


def trained_model(name: str, settings: ExtrapolationSettings, seed: int, corpus: Corpus, ctx: RunContext
                   ) -> tuple[Transformer, TrainResult]:
    """Load the checkpoint for (name, settings, seed, corpus) from ``ctx.out / "checkpoints"``, or
    train (each step to ``ctx.board``) and save one.

    The seed is in the checkpoint's identity (TrainConfig.seed), so each seed has its own.
    Under DDP, rank 0 decides (its folder is the one written to), loads the checkpoint and
    sends the weights to the other ranks, and alone saves what they trained together.
    """
    runtime = ctx.runtime
    model = build_model(name, settings.model_config(), seed=seed).to(runtime.device, runtime.dtype)
    ident, path = checkpoint(name, settings, seed, ctx.out, runtime)
    world = runtime.world
    if world.broadcast(path.exists() and not settings.retrain):
        loaded = checkpoints.load(path, ident, model) if world.saves_checkpoints else None
        world.copy_weights_from_main(model)
        model.eval()
        return model, world.broadcast(loaded)
    label = f"train {name}" + (f" seed {seed}" if len(settings.seeds) > 1 else "")
    with ctx.progress.task(label, total=settings.steps) as advance:
        result = train(model, corpus.train, settings.train_config(seed), runtime, advance,
                       on_step=ctx.board.steps(board_run(name, seed)),
                       snapshots=checkpoints.snapshots(path, ident, fresh=settings.retrain))
    if not result.diverged and world.saves_checkpoints:
        checkpoints.save(path, ident, model, result)
    return model, result


def _done_keys(name: str, variant: str, settings: ExtrapolationSettings, seed: int, stream: bool) -> list[dict]:
    """The keys of the rows an encoding (or a RoPE variant) produces within a run, for ``--resume``."""
    common = {"encoding": name, "variant": variant, "metric": "ppl", "seed": seed}
    keys = [common | {"task": "lm", "eval_len": n, "eval_mode": mode, "stride": stride}
            for n in settings.lengths
            for mode, stride in (("nonoverlap", 0), ("sliding", min(settings.sliding_stride, n)))]
    if stream:
        keys += [common | {"task": "stream", "eval_len": settings.stream_len, "eval_mode": f"{p}-{r}", "stride": 0}
                 for p, r in STREAM_POLICIES]
    return keys


def _diverged_before(name: str, settings: ExtrapolationSettings, seed: int, ctx: RunContext) -> bool:
    """True if the saved rows say this model's training diverged (unless ``--retrain``): the same seed
    and data would diverge again, so neither a resumed run nor a sweep's scaling jobs train it twice."""
    keys = [{"encoding": name, "variant": name, "metric": "ppl", "seed": seed, "task": "lm", "eval_len": n,
             "eval_mode": "nonoverlap", "stride": 0} for n in settings.lengths]
    return not settings.retrain and ctx.done(EXTRAPOLATION, keys,
                                             where=lambda df: df["note"].astype(str).str.startswith(DIVERGED))


def measure(encodings: tuple[str, ...], settings: ExtrapolationSettings, ctx: RunContext
            ) -> Iterator[tuple[Schema, list]]:
    """Train (or load) and evaluate every encoding at every seed; yield (table, rows) as each one finishes.

    Seeds run one after another, each over every encoding, so an interrupted run holds whole
    seeds to compare. An (encoding, seed) whose rows are saved already (``--resume``:
    ``ctx.done``) is skipped altogether; checkpoints live in ``ctx.out / "checkpoints"``.
    """
    corpus = load_corpus(settings.corpus)
    longest = max(settings.lengths)  # validate() checked that the validation split holds it

    def first(n: int) -> torch.Tensor:
        return corpus.val[: min(max(n, longest), corpus.val.numel() - 1) + 1]

    data = _EvalData(first(settings.eval_tokens), first(settings.sliding_tokens),
                     corpus.val[: settings.stream_len + 1], corpus)
    for seed in settings.seeds:
        yield from _run_seed(encodings, settings, seed, data, ctx)


@dataclass(frozen=True)
class _EvalData:
    """The validation tokens every seed is scored on: the same for all, so seeds differ only by training."""

    tokens: torch.Tensor
    sliding_tokens: torch.Tensor
    stream_tokens: torch.Tensor
    corpus: Corpus


def _run_seed(encodings: tuple[str, ...], settings: ExtrapolationSettings, seed: int, data: _EvalData,
              ctx: RunContext) -> Iterator[tuple[Schema, list]]:
    """Every encoding (and RoPE's scaling variants) trained with ``seed``, evaluated."""
    runtime, progress = ctx.runtime, ctx.progress
    corpus, tokens, sliding_tokens = data.corpus, data.tokens, data.sliding_tokens
    rope_model, rope_diverged = None, False
    for name in encodings:
        if _diverged_before(name, settings, seed, ctx):
            rope_diverged |= name == "rope"
            continue
        if ctx.done(EXTRAPOLATION, _done_keys(name, name, settings, seed, stream=True)):
            continue
        if note := too_shallow(name, settings.model_config()):  # a schedule deeper than the model
            yield EXTRAPOLATION, [_row(settings, seed, corpus, runtime, 0, encoding=name, variant=name, task="lm",
                                       eval_len=n, eval_mode="nonoverlap", metric="ppl", value=math.nan,
                                       supported=False, note=note) for n in settings.lengths]
            continue
        model, result = trained_model(name, settings, seed, corpus, ctx)
        params = sum(p.numel() for p in model.parameters())

        def make_row(**fields: object) -> dict:
            return _row(settings, seed, corpus, runtime, params, encoding=name, **fields)

        yield TRAINING, [TRAINING.row(encoding=name, **point, train_len=settings.train_len, steps=settings.steps,
                                      seed=seed, preset=settings.model, corpus_checksum=corpus.checksum,
                                      device=runtime.device_name, dtype=runtime.dtype_name, threads=runtime.threads)
                         for point in result.curve]
        if result.diverged:
            rope_diverged |= name == "rope"
            yield EXTRAPOLATION, [make_row(variant=name, task="lm", eval_len=length, eval_mode="nonoverlap",
                                           metric="ppl", value=math.nan, supported=False, note=result.note)
                                  for length in settings.lengths]
            continue
        with progress.task(f"evaluate {name}", total=2) as advance:
            yield EXTRAPOLATION, _lm_rows(model, name, tokens, sliding_tokens, settings, make_row)
            advance()
            yield EXTRAPOLATION, _stream_rows(model, name, data.stream_tokens, settings, runtime, make_row)
            advance()
        if name == "rope":
            rope_model = model
    variants = [v for v in settings.variants
                if not ctx.done(EXTRAPOLATION, _done_keys("rope", v, settings, seed, stream=False))]
    if "rope" not in encodings or not variants or rope_diverged:
        return
    if rope_model is None:  # rope's own rows were resumed; its checkpoint is still needed
        rope_model, result = trained_model("rope", settings, seed, corpus, ctx)
        if result.diverged:
            return
    rope = rope_model.encoding
    params = sum(p.numel() for p in rope_model.parameters())

    def make_rope_row(**fields: object) -> dict:
        return _row(settings, seed, corpus, runtime, params, encoding="rope", **fields)

    with progress.task("RoPE scaling", total=len(variants)) as advance:
        for variant in variants:
            rows = _lm_rows(rope_model, variant, tokens, sliding_tokens, settings, make_rope_row,
                            lambda length, v=variant: scaled_rope(v, rope, settings.train_len,
                                                                  length / settings.train_len))
            if variant == "rope-dynamic":
                rows += _dynamic_rows(rope_model, corpus.val, settings, make_rope_row)
            if variant == "rope-longrope":
                rows += _longrope_switch_rows(rope_model, corpus.val, settings, make_rope_row)
            rope_model.encoding = rope
            yield EXTRAPOLATION, rows
            advance()

