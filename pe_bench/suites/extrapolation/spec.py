"""What the extrapolation suite trains and measures: settings, presets, options, tables, checks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pe_bench import checkpoints
from pe_bench.data import load_corpus
from pe_bench.encodings.rope_scaling import ROPE_SCALING
from pe_bench.errors import InputError
from pe_bench.evaluate import BATCH_TOKENS
from pe_bench.model import ModelConfig, build_model, estimate_bytes, preset
from pe_bench.options import check_choice, check_int, option
from pe_bench.results.schema import MACHINE_KEY, OUTCOME_COLUMNS, Schema, integer, number, text
from pe_bench.runtime import Runtime
from pe_bench.seeds import check_seeds, seeds_option
from pe_bench.training import RETRAIN, STEPS, TRAIN_LEN, TrainConfig, shard_problem

FACTORS = (1, 2, 4, 8, 16)
#: options the attention suite shares (it reads this suite's models)
EVAL_LENS = "evaluation lengths (default L,2L,4L,8L,16L)"
CORPUS = "a text file or folder (default: Python's stdlib)"
STREAM_POLICIES = (("window", "original"), ("window", "slot"), ("sinks", "original"), ("sinks", "slot"))


@dataclass(frozen=True)
class ExtrapolationSettings:
    """What the extrapolation suite trains and measures; presets below; the ``option`` fields are
    command-line options."""

    model: str  # model preset name; its max_len becomes train_len (learned has no row past L)
    train_len: int = option(TRAIN_LEN)
    steps: int = option(STEPS)
    batch_size: int
    lr: float
    eval_lens: tuple[int, ...] | None = option(EVAL_LENS, None)
    eval_tokens: int = 16384  # validation tokens scored with non-overlapping windows
    sliding_tokens: int = 4096  # ... with sliding windows (which cost length / stride times more per token)
    stride: int | None = option("sliding-window stride (default L)", None)
    stream_factor: int = 8  # streaming decodes stream_factor x train_len tokens
    sinks: int = 4
    variants: tuple[str, ...] = tuple(ROPE_SCALING)
    corpus: Path | None = option(CORPUS, None)
    retrain: bool = option(RETRAIN, False)
    seeds: tuple[int, ...] = seeds_option((0,))  # each trained and evaluated separately; reports aggregate over them

    @property
    def corpus_checksum(self) -> str:
        return load_corpus(self.corpus).checksum

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

    def train_config(self, seed: int) -> TrainConfig:
        """How the model of ``seed`` trains: the seed draws its batches (its weights: build_model)."""
        return TrainConfig(train_len=self.train_len, steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                           warmup=max(1, self.steps // 10), seed=seed)


PRESETS: dict[str, ExtrapolationSettings] = {
    "tiny": ExtrapolationSettings("tiny", train_len=16, steps=40, batch_size=8, lr=3e-3, eval_tokens=1024,
                                  sliding_tokens=512, stream_factor=2),
    # about 20 s of training per encoding and seed on 2 CPU cores (410K tokens at ~20K tokens/s): one seed
    # keeps quick quick, and so it has no intervals; --seeds 3 gives them at three times the time
    "quick": ExtrapolationSettings("quick", train_len=64, steps=400, batch_size=16, lr=2e-3, sliding_tokens=2048),
    # three seeds: every figure with a 95 % interval and every claim with a paired test
    "standard": ExtrapolationSettings("standard", train_len=128, steps=800, batch_size=16, lr=1e-3,
                                      eval_tokens=65536, sliding_tokens=16384, seeds=(0, 1, 2)),
    # for GPUs (the ALiBi paper's setting, scaled down in steps): L = 512, evaluated to 16L = 8192; 5000 steps
    # of 32 x 512 tokens, bf16 autocast and flex attention in training on CUDA (model preset "large"); one seed
    "large": ExtrapolationSettings("large", train_len=512, steps=5000, batch_size=32, lr=6e-4, eval_tokens=131072,
                                   sliding_tokens=32768, stream_factor=4),
}


_RUN = (text("device"), text("dtype"))
#: added after the first results were committed: older tables read it as empty
_THREADS = integer("threads", math.nan)
EXTRAPOLATION = Schema(
    "extrapolation",
    columns=(text("encoding"), text("variant"), text("task"), integer("train_len"), integer("eval_len"),
             text("eval_mode"), integer("stride", 0), text("metric"), number("value"), integer("steps"), integer("seed"),
             integer("params"), text("preset"), *OUTCOME_COLUMNS, *_RUN, text("corpus"), text("corpus_checksum"),
             text("torch_version"), _THREADS),
    key=("encoding", "variant", "task", "train_len", "eval_len", "eval_mode", "stride", "metric", "steps", "seed",
         "preset", "corpus_checksum", *MACHINE_KEY),
    run_key=("train_len", "steps", "seed", "preset", "corpus_checksum", *MACHINE_KEY),
)

TRAINING = Schema(
    "training",
    columns=(text("encoding"), integer("step"), number("loss"), number("tokens_per_s"), integer("train_len"),
             integer("steps"), integer("seed"), text("preset"), text("corpus_checksum"), *_RUN, _THREADS),
    key=("encoding", "step", "train_len", "steps", "seed", "preset", "corpus_checksum", *MACHINE_KEY),
    run_key=("train_len", "steps", "seed", "preset", "corpus_checksum", *MACHINE_KEY),
)


def validate(settings: ExtrapolationSettings) -> None:
    """Lengths that make sense together, known variants, and a corpus long enough for all of them."""
    check_int(settings.train_len, "--train-len", minimum=2)
    check_seeds(settings.seeds)
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


def check(encodings: tuple[str, ...], settings: ExtrapolationSettings, out: Path, runtime: Runtime) -> None:
    """Before anything runs: the checkpoint folder can hold checkpoints, and every one this run
    would reuse loads; under DDP, the global batch splits evenly over the ranks."""
    world = runtime.world
    if world.collective and settings.batch_size % world.world_size:
        raise InputError(shard_problem(settings.batch_size, world.world_size))
    checkpoints.check_folder(out / "checkpoints")
    if settings.retrain:
        return
    for name in encodings:
        for seed in settings.seeds:
            ident, path = checkpoint(name, settings, seed, out, runtime)
            if path.exists():
                checkpoints.load(path, ident, build_model(name, settings.model_config(), seed=None))


def checkpoint(name: str, settings: ExtrapolationSettings, seed: int, out: Path, runtime: Runtime) -> tuple[dict, Path]:
    """The identity of the model of (``name``, ``settings``, ``seed``) and where its checkpoint lives under ``out``."""
    ident = checkpoints.identity(name, settings.model_config(), settings.train_config(seed),
                                 load_corpus(settings.corpus).checksum, runtime)
    return ident, checkpoints.path_for(out / "checkpoints", ident)


def record(settings: ExtrapolationSettings) -> dict[str, Any]:
    """The corpus this run trains on, for the manifest."""
    corpus = load_corpus(settings.corpus)
    return {"corpus": {"name": corpus.name, "files": corpus.files, "bytes": corpus.bytes,
                       "checksum": corpus.checksum}}


def memory(settings: ExtrapolationSettings) -> tuple[int, str]:
    """The largest of training and each evaluation length's batch of windows."""
    config = settings.model_config()
    shapes = [(estimate_bytes(config, settings.batch_size, settings.train_len, train=True),
               f"training at L = {settings.train_len}")]
    for length in (*settings.lengths, settings.stream_len, 4 * settings.train_len):
        windows = max(1, BATCH_TOKENS // length)  # evaluation stacks windows up to BATCH_TOKENS
        shapes.append((estimate_bytes(config, windows, length), f"evaluation at {length:,} tokens"))
    return max(shapes)
