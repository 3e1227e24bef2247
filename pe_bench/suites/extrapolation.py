"""Length-extrapolation suite: train at length L, evaluate at L, 2L, 4L, 8L, 16L.

Every encoding trains the same byte-level model with the same seed, data order, optimizer
and steps (training.py), on the default corpus or ``--corpus`` (data.py). Trained models are
checkpointed under ``<out>/checkpoints/`` by a hash of everything that determines them and
reused by later runs. Then, on the validation split:

- perplexity at each evaluation length, with non-overlapping and with sliding windows
  (evaluate.py) — the ALiBi paper's Table 2, at small scale;
- for the RoPE model, the scaling variants of rope_scaling.py applied at evaluation (no
  fine-tuning), each at s = E/L; and the dynamic variant's cache pitfall: decoding with a
  KV cache vs one full forward at 4L;
- streaming 8L tokens through a window of L tokens, with and without 4 attention sinks,
  under original and slot positions, against one full forward over the same tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from rich.console import Group
from rich.table import Table

from pe_bench import checkpoints
from pe_bench.data import Corpus, load_corpus
from pe_bench.encodings.rope_scaling import ROPE_SCALING, scaled_rope
from pe_bench.errors import InputError, Unsupported
from pe_bench.evaluate import cached_decode_divergence, full_nll, nonoverlap_nll, perplexity, sliding_nll, stream_nll
from pe_bench.model import ModelConfig, Transformer, build_model, preset
from pe_bench.options import check_choice, check_int
from pe_bench.progress import Progress
from pe_bench.results import EXTRAPOLATION, TRAINING, Schema
from pe_bench.runtime import Runtime
from pe_bench.suites import Existing, RunContext, Suite
from pe_bench.training import TrainConfig, TrainResult, train

FACTORS = (1, 2, 4, 8, 16)
STREAM_POLICIES = (("window", "original"), ("window", "slot"), ("sinks", "original"), ("sinks", "slot"))


@dataclass(frozen=True)
class ExtrapolationSettings:
    """What the extrapolation suite trains and measures; presets below, any field can be overridden."""

    model: str  # model preset name; its max_len becomes train_len (learned has no row past L)
    train_len: int
    steps: int
    batch_size: int
    lr: float
    eval_lens: tuple[int, ...] | None = None  # default: train_len x FACTORS
    eval_tokens: int = 16384  # validation tokens scored with non-overlapping windows
    sliding_tokens: int = 4096  # ... with sliding windows (which cost length / stride times more per token)
    stride: int | None = None  # sliding-window stride; default train_len
    stream_factor: int = 8  # streaming decodes stream_factor x train_len tokens
    sinks: int = 4
    variants: tuple[str, ...] = tuple(ROPE_SCALING)
    corpus: Path | None = None
    retrain: bool = False
    seed: int = 0

    @property
    def lengths(self) -> tuple[int, ...]:
        return self.eval_lens or tuple(self.train_len * f for f in FACTORS)

    @property
    def sliding_stride(self) -> int:
        return self.stride if self.stride is not None else self.train_len

    @property
    def stream_len(self) -> int:
        return self.stream_factor * self.train_len

    def model_config(self) -> ModelConfig:
        return preset(self.model, max_len=self.train_len)

    def train_config(self) -> TrainConfig:
        return TrainConfig(train_len=self.train_len, steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                           warmup=max(1, self.steps // 10), seed=self.seed)


EXTRAPOLATION_PRESETS: dict[str, ExtrapolationSettings] = {
    "tiny": ExtrapolationSettings("tiny", train_len=16, steps=40, batch_size=8, lr=3e-3, eval_tokens=1024,
                                  sliding_tokens=512, stream_factor=4),
    # about 20 s of training per encoding on 2 CPU cores (410K tokens at ~20K tokens/s)
    "quick": ExtrapolationSettings("quick", train_len=64, steps=400, batch_size=16, lr=2e-3, sliding_tokens=2048),
    "standard": ExtrapolationSettings("standard", train_len=128, steps=800, batch_size=16, lr=1e-3,
                                      eval_tokens=65536, sliding_tokens=16384),
}


def _row(settings: ExtrapolationSettings, corpus: Corpus, runtime: Runtime, params: int, *, encoding: str,
         variant: str, task: str, eval_len: int, eval_mode: str, metric: str, value: float, stride: int = 0,
         supported: bool = True, note: str = "") -> dict[str, object]:
    return {
        "encoding": encoding, "variant": variant, "task": task, "train_len": settings.train_len,
        "eval_len": eval_len, "eval_mode": eval_mode, "stride": stride, "metric": metric, "value": value,
        "steps": settings.steps, "seed": settings.seed, "params": params, "preset": settings.model,
        "supported": supported, "note": note, "device": runtime.device_name, "dtype": runtime.dtype_name,
        "corpus": corpus.name, "corpus_checksum": corpus.checksum, "torch_version": torch.__version__,
    }


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


def _trained_model(name: str, settings: ExtrapolationSettings, corpus: Corpus, runtime: Runtime,
                   checkpoint_dir: Path, progress: Progress) -> tuple[Transformer, TrainResult]:
    """Load the checkpoint for (name, settings, corpus) or train and save one."""
    model = build_model(name, settings.model_config(), seed=settings.seed).to(runtime.device, runtime.dtype)
    ident = checkpoints.identity(name, settings.model_config(), settings.train_config(), corpus.checksum, runtime)
    path = checkpoints.path_for(checkpoint_dir, ident)
    if path.exists() and not settings.retrain:
        return model, checkpoints.load(path, ident, model)
    with progress.task(f"train {name}", total=settings.steps) as advance:
        result = train(model, corpus.train, settings.train_config(), runtime, advance)
    if not result.diverged:
        checkpoints.save(path, ident, model, result)
    return model, result


def _done_keys(name: str, variant: str, settings: ExtrapolationSettings, corpus: Corpus, runtime: Runtime,
               stream: bool) -> list[dict]:
    """The keys of the rows an encoding (or a RoPE variant) produces, for ``--resume``."""
    common = {"encoding": name, "variant": variant, "train_len": settings.train_len, "metric": "ppl",
              "steps": settings.steps, "seed": settings.seed, "preset": settings.model,
              "corpus_checksum": corpus.checksum, "device": runtime.device_name, "dtype": runtime.dtype_name}
    keys = [common | {"task": "lm", "eval_len": n, "eval_mode": mode, "stride": stride}
            for n in settings.lengths
            for mode, stride in (("nonoverlap", 0), ("sliding", min(settings.sliding_stride, n)))]
    if stream:
        keys += [common | {"task": "stream", "eval_len": settings.stream_len, "eval_mode": f"{p}-{r}", "stride": 0}
                 for p, r in STREAM_POLICIES]
    return keys


def run_extrapolation(encodings: tuple[str, ...], settings: ExtrapolationSettings, runtime: Runtime,
                      progress: Progress | None = None, out: Path = Path("results"),
                      existing: Existing | None = None) -> Iterator[tuple[Schema, list]]:
    """Train (or load) and evaluate every encoding; yield (table, rows) as each one finishes.

    An encoding whose rows ``existing`` already holds (``--resume``) is skipped altogether.
    """
    progress = progress or Progress()
    existing = existing or Existing()
    corpus = load_corpus(settings.corpus)
    longest = max(settings.lengths)  # settings_for checked that the validation split holds it

    def first(n: int) -> torch.Tensor:
        return corpus.val[: min(max(n, longest), corpus.val.numel() - 1) + 1]

    tokens, sliding_tokens = first(settings.eval_tokens), first(settings.sliding_tokens)
    stream_tokens = corpus.val[: settings.stream_len + 1]
    rope_model, rope_diverged = None, False
    for name in encodings:
        if existing.has(EXTRAPOLATION, _done_keys(name, name, settings, corpus, runtime, stream=True)):
            continue
        model, result = _trained_model(name, settings, corpus, runtime, out / "checkpoints", progress)
        params = sum(p.numel() for p in model.parameters())

        def make_row(**fields: object) -> dict:
            return _row(settings, corpus, runtime, params, encoding=name, **fields)

        yield TRAINING, [{"encoding": name, **point, "train_len": settings.train_len, "steps": settings.steps,
                          "seed": settings.seed, "preset": settings.model, "corpus_checksum": corpus.checksum,
                          "device": runtime.device_name, "dtype": runtime.dtype_name} for point in result.curve]
        if result.diverged:
            rope_diverged |= name == "rope"
            yield EXTRAPOLATION, [make_row(variant=name, task="lm", eval_len=length, eval_mode="nonoverlap",
                                           metric="ppl", value=math.nan, supported=False, note=result.note)
                                  for length in settings.lengths]
            continue
        with progress.task(f"evaluate {name}", total=2) as advance:
            yield EXTRAPOLATION, _lm_rows(model, name, tokens, sliding_tokens, settings, make_row)
            advance()
            yield EXTRAPOLATION, _stream_rows(model, name, stream_tokens, settings, runtime, make_row)
            advance()
        if name == "rope":
            rope_model = model
    variants = [v for v in settings.variants
                if not existing.has(EXTRAPOLATION, _done_keys("rope", v, settings, corpus, runtime, stream=False))]
    if "rope" not in encodings or not variants or rope_diverged:
        return
    if rope_model is None:  # rope's own rows were resumed; its checkpoint is still needed
        rope_model, result = _trained_model("rope", settings, corpus, runtime, out / "checkpoints", progress)
        if result.diverged:
            return
    rope = rope_model.encoding
    params = sum(p.numel() for p in rope_model.parameters())

    def make_rope_row(**fields: object) -> dict:
        return _row(settings, corpus, runtime, params, encoding="rope", **fields)

    with progress.task("RoPE scaling", total=len(variants)) as advance:
        for variant in variants:
            rows = _lm_rows(rope_model, variant, tokens, sliding_tokens, settings, make_rope_row,
                            lambda length, v=variant: scaled_rope(v, rope, settings.train_len,
                                                                  length / settings.train_len))
            if variant == "rope-dynamic":
                rows += _dynamic_rows(rope_model, corpus.val, settings, make_rope_row)
            rope_model.encoding = rope
            yield EXTRAPOLATION, rows
            advance()


def _run(encodings: tuple[str, ...], settings: ExtrapolationSettings, ctx: RunContext) -> Iterator[tuple[Schema, list]]:
    return run_extrapolation(encodings, settings, ctx.runtime, ctx.progress, ctx.out, ctx.existing)


def settings_for(preset_name: str, **overrides: object) -> ExtrapolationSettings:
    """The extrapolation preset with the non-None ``overrides`` applied; the corpus is checked too."""
    check_choice(preset_name, "preset", EXTRAPOLATION_PRESETS)
    settings = replace(EXTRAPOLATION_PRESETS[preset_name], **{k: v for k, v in overrides.items() if v is not None})
    check_int(settings.train_len, "--train-len", minimum=2)
    check_int(settings.steps, "--steps")
    for length in settings.lengths:
        check_int(length, "--eval-lens")
        if length < settings.train_len:
            raise InputError(f"--eval-lens must be >= the training length {settings.train_len} "
                             f"(extrapolation evaluates at L or longer), got {length}")
    check_int(settings.sliding_stride, "--stride")
    if not 0 < settings.sinks < settings.train_len:
        raise InputError(f"streaming keeps {settings.sinks} sink tokens in a window of --train-len "
                         f"{settings.train_len} tokens: --train-len must be larger than {settings.sinks}")
    for variant in settings.variants:
        check_choice(variant, "variant", ROPE_SCALING)
    corpus = load_corpus(settings.corpus)
    longest = max(max(settings.lengths), settings.stream_len, 4 * settings.train_len)
    if corpus.val.numel() < longest + 1 or corpus.train.numel() < settings.train_len + 2:
        raise InputError(f"corpus {corpus.name} is too short: its validation split has {corpus.val.numel():,} bytes "
                         f"and {longest + 1:,} are needed (longest evaluation), its training split "
                         f"{corpus.train.numel():,} bytes")
    return settings


def check(encodings: tuple[str, ...], settings: ExtrapolationSettings, out: Path, runtime: Runtime) -> None:
    """Before anything runs: every checkpoint this run would reuse must load."""
    if settings.retrain:
        return
    corpus = load_corpus(settings.corpus)
    for name in encodings:
        ident = checkpoints.identity(name, settings.model_config(), settings.train_config(), corpus.checksum,
                                     runtime)
        path = checkpoints.path_for(out / "checkpoints", ident)
        if path.exists():
            checkpoints.load(path, ident, build_model(name, settings.model_config(), seed=None))


def render(tables: dict[str, pd.DataFrame]) -> Group:
    """Perplexity per evaluation length (non-overlapping windows), and streaming perplexity."""
    df = tables.get("extrapolation", pd.DataFrame())
    parts = []
    if len(df):
        lm = df[(df["task"] == "lm") & (df["eval_mode"] == "nonoverlap") & (df["metric"] == "ppl")]
        lengths = sorted(lm["eval_len"].unique())
        train_len = int(df["train_len"].iloc[0])
        table = Table(title=f"perplexity, non-overlapping windows, trained at L = {train_len}")
        table.add_column("encoding / variant")
        for length in lengths:
            table.add_column(f"{length} ({length // train_len}L)", justify="right")
        for variant, group in lm.groupby("variant", sort=False):
            values = group.drop_duplicates("eval_len", keep="last").set_index("eval_len")
            cells = [f"{values.loc[n, 'value']:.2f}" if n in values.index and bool(values.loc[n, "supported"])
                     else "n/a" for n in lengths]
            table.add_row(str(variant), *cells)
        parts.append(table)
        stream = df[(df["task"] == "stream") & (df["metric"] == "ppl")]
        if len(stream):
            modes = list(dict.fromkeys(stream["eval_mode"]))
            table = Table(title=f"streaming {int(stream['eval_len'].iloc[0])} tokens through a window of L: perplexity")
            table.add_column("encoding")
            for mode in modes:
                table.add_column(mode, justify="right")
            for name, group in stream.groupby("encoding", sort=False):
                values = group.drop_duplicates("eval_mode", keep="last").set_index("eval_mode")
                table.add_row(str(name), *[f"{values.loc[m, 'value']:.2f}" if bool(values.loc[m, "supported"])
                                           else "n/a" for m in modes])
            parts.append(table)
    return Group(*parts)


SUITE = Suite(
    name="extrapolation",
    description="train at L, perplexity at L..16L, RoPE scaling, streaming with window and sink caches",
    tables=(EXTRAPOLATION, TRAINING),
    settings=settings_for,
    run=_run,
    render=render,
    options=("train_len", "eval_lens", "steps", "corpus", "retrain", "stride"),
    selects=lambda s, runtime: {
        table: {"train_len": s.train_len, "steps": s.steps, "seed": s.seed, "preset": s.model,
                "corpus_checksum": load_corpus(s.corpus).checksum, "device": runtime.device_name,
                "dtype": runtime.dtype_name}
        for table in ("extrapolation", "training")
    },
    check=check,
)
