"""Training a byte-level language model: the same data order, optimizer and schedule for every
encoding, so that the encoding is the only difference between two runs.

Batches are windows of ``train_len + 1`` bytes at random offsets of the training stream,
drawn from a generator seeded with ``seed``; or, with a ``sampler``, whatever batches it draws
from that generator (task examples, with positions and a loss mask). AdamW (betas and decay from
the TrainConfig), linear warm-up then cosine decay to a tenth of the peak rate, gradients clipped at norm 1.

Under torchrun with ``--distribute ddp`` (pe_bench/distributed.py) the model is wrapped in
DistributedDataParallel and the global batch stays the same whatever the number of ranks:
every rank draws the same global batch from the same seeded generator and trains on its
slice of it, and DDP averages the gradients, so N ranks take the steps one process would
(to float rounding). Weights start identical on every rank (the same seed, not offset by rank).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from pe_bench.distributed import World
from pe_bench.errors import InputError
from pe_bench.model import Transformer
from pe_bench.runtime import Runtime

#: a loss above this (3 x ln 256, three times a uniform guess over bytes) means training diverged
DIVERGED_LOSS = 3 * math.log(256)
#: how the note of a training that diverged begins (TrainResult.note; the rows' note column)
DIVERGED = "training diverged"


#: the help of the options every training suite has, under the same name and meaning (options.option)
TRAIN_LEN, STEPS, RETRAIN = "training length L", "training steps", "train even if a checkpoint exists"

@dataclass(frozen=True)
class TrainConfig:
    """Everything about training besides the model and the data."""

    train_len: int
    steps: int
    batch_size: int
    lr: float
    warmup: int
    seed: int
    log_every: int = 10
    # AdamW's: GPT-style language modelling keeps beta2 = 0.95 and a little decay; the tasks suite takes
    # AdamW's own (0.999, no decay), with which its copy model learned at L in 600 steps where 0.95 did not
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.01


@dataclass
class TrainResult:
    """The loss curve and throughput; ``note`` says why training stopped early, if it did."""

    curve: list[dict[str, float]]  # step, loss, tokens_per_s
    tokens_per_s: float
    seconds: float
    note: str = ""

    @property
    def diverged(self) -> bool:
        return bool(self.note)


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup`` steps, then cosine decay to lr / 10."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def sample_batch(data: Tensor, length: int, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Inputs and next-byte targets, (B, length) each, from random offsets of ``data``."""
    starts = torch.randint(0, data.numel() - length, (batch_size,), generator=generator)  # last: N - length - 1
    windows = data[starts[:, None] + torch.arange(length + 1)].long()  # (B, length + 1)
    return windows[:, :-1], windows[:, 1:]


@dataclass(frozen=True)
class Snapshots:
    """Where a training run keeps its state part-way, so that a run cut off (a job's time limit, a
    machine lost, Ctrl-C) goes on from there instead of from step 0 (``checkpoints.snapshots`` makes
    one beside a model's checkpoint; the default keeps nothing).

    ``load`` gives the last state kept (None: start at step 0), ``keep`` writes one, ``discard``
    removes it. A state is kept at a logged step once ``every_s`` seconds have passed since the
    last (or since training began), and holds everything the next step depends on: the weights,
    the optimizer's moments, the batch generator and torch's random state, the step and the curve
    so far. So a run that goes on from it takes the steps an uncut run would have taken (on CPU
    to the last bit: tests/test_training.py).
    """

    load: Callable[[], dict | None] = lambda: None
    keep: Callable[[dict], None] = lambda state: None
    discard: Callable[[], None] = lambda: None
    every_s: float = math.inf


#: draws one batch from the generator: inputs (B, T), targets (B, T), positions (T,) or None
#: (0..T-1), loss mask (B, T): bool (the targets that count), float (each target's weight) or None (every target)
Sampler = Callable[[torch.Generator], tuple[Tensor, Tensor, Tensor | None, Tensor | None]]
#: told after every step: its number (from 1) and {"train/loss": the global batch's loss, "train/learning_rate": ...}
OnStep = Callable[[int, dict[str, float]], None]


def shard(batch: Tensor, world: World) -> Tensor:
    """This rank's slice of a global batch (B, ...) under DDP: B / N rows; the whole batch otherwise."""
    if not world.collective:
        return batch
    if batch.shape[0] % world.world_size:
        raise InputError(shard_problem(batch.shape[0], world.world_size))
    size = batch.shape[0] // world.world_size
    return batch[world.rank * size: (world.rank + 1) * size]


def shard_problem(batch_size: int, world_size: int) -> str:
    """The one line that says a global batch cannot be split over the ranks."""
    return (f"a training batch of {batch_size} sequences cannot be split evenly over {world_size} ranks "
            f"(torchrun --nproc-per-node x --nnodes is larger than the data can shard evenly); use a number of "
            f"ranks that divides {batch_size}, or --distribute sweep")


def _parallel(model: Transformer, runtime: Runtime) -> nn.Module:
    """The module a training step calls: DDP around ``model`` when the ranks train it together."""
    if not runtime.world.collective:
        return model
    device_ids = [runtime.device.index] if runtime.device.type == "cuda" else None  # none on CPU
    # buffers (cos/sin rows, slopes) are functions of the config, the same on every rank: not synced at
    # every forward (the option's name changed in torch 2.13)
    known = inspect.signature(DistributedDataParallel).parameters
    no_sync = {"forward_sync_buffers" if "forward_sync_buffers" in known else "broadcast_buffers": False}
    return DistributedDataParallel(model, device_ids=device_ids, **no_sync)


def train(model: Transformer, data: Tensor | None, config: TrainConfig, runtime: Runtime,
          advance: Callable[..., None] = lambda n=1, **f: None, sampler: Sampler | None = None,
          on_step: OnStep = lambda step, values: None, snapshots: Snapshots = Snapshots()) -> TrainResult:
    """Train ``model`` in place on the byte stream ``data``, or on ``sampler``'s batches if given;
    stops early if the loss diverges. ``on_step`` gets every step's loss and learning rate
    (``--tensorboard``: pe_bench/tensorboard.py). ``snapshots``: where the state part-way is kept
    and found again (a training that diverged discards it); not under DDP, whose ranks would have
    to agree on one.

    Under DDP every rank must call this with the same arguments; the loss reported (and the
    divergence check) is the global batch's, the same on every rank.
    """
    backend = model.backend
    try:
        if runtime.device.type == "cuda" and model.config.train_backend:  # the large preset: flex, with its backward
            model.backend = model.config.train_backend
        return _train(model, data, config, runtime, advance, sampler, on_step,
                      Snapshots() if runtime.world.collective else snapshots)
    finally:
        model.backend = backend


def _autocast(model: Transformer, runtime: Runtime) -> AbstractContextManager:
    """On CUDA, torch.autocast in the model config's training dtype (the large preset: bfloat16); else nothing."""
    if runtime.device.type == "cuda" and model.config.train_autocast:
        return torch.autocast("cuda", dtype=getattr(torch, model.config.train_autocast))
    return nullcontext()


def _train(model: Transformer, data: Tensor | None, config: TrainConfig, runtime: Runtime,
           advance: Callable[..., None], sampler: Sampler | None, on_step: OnStep, snapshots: Snapshots
           ) -> TrainResult:
    world = runtime.world
    if world.collective:  # rank 0 may still be writing the last model's rows: wait for it without a time limit
        world.sync()
    generator = torch.Generator().manual_seed(config.seed)
    net = _parallel(model, runtime)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=config.betas,
                                  weight_decay=config.weight_decay)
    model.train()
    curve: list[dict[str, float]] = []
    tokens = config.batch_size * config.train_len  # with a sampler: an upper bound (its lengths vary up to this)
    first, earlier = 0, 0.0  # the step to start at, the seconds spent before it (in runs cut off)
    if (state := snapshots.load()) is not None and _fits(state, model):
        first, earlier, curve = _restore(state, model, optimizer, generator)
        advance(first)
    start = last = kept = time.perf_counter()
    note = ""
    for step in range(first, config.steps):
        lr = learning_rate(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if sampler is None:
            x, y = sample_batch(data, config.train_len, config.batch_size, generator)  # the global batch
            positions, mask = None, None
        else:
            x, y, positions, mask = sampler(generator)
        x, y = shard(x, world).to(runtime.device), shard(y, world).to(runtime.device)  # (B / N, L) each
        with _autocast(model, runtime):  # the forward pass and the loss; backward follows the forward's dtypes
            logits = net(x, positions)  # through DDP's forward, which arms the gradient all-reduce
            if mask is None:
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            elif mask.is_floating_point():  # each target weighted: a weighted mean over this rank's targets
                weights = shard(mask, world).to(runtime.device, logits.dtype).reshape(-1)
                losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none")
                loss = (losses * weights).sum() / weights.sum()
            else:  # only the targets the sampler's mask keeps (a task's answers)
                mask = shard(mask, world).to(runtime.device)
                loss = F.cross_entropy(logits[mask], y[mask])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        value = world.mean(loss)  # the global batch's loss: every rank takes the same decision below
        if not math.isfinite(value) or value > DIVERGED_LOSS:
            note = f"{DIVERGED} at step {step + 1} (loss {value:.3g})"
            break
        on_step(step + 1, {"train/loss": value, "train/learning_rate": lr})
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            now = time.perf_counter()
            steps_done = (step + 1) - (curve[-1]["step"] if curve else 0)
            curve.append({"step": step + 1, "loss": value, "tokens_per_s": steps_done * tokens / (now - last)})
            last = now
            advance(steps_done, loss=f"{value:.3f}")
            if now - kept >= snapshots.every_s and step + 1 < config.steps:
                snapshots.keep(_state(step + 1, earlier + now - start, curve, model, optimizer, generator))
                last = kept = time.perf_counter()  # the time it took to write is not the next interval's
    seconds = earlier + time.perf_counter() - start
    model.eval()
    if note:
        snapshots.discard()  # the same state would diverge again
    done = curve[-1]["step"] if curve else 0
    return TrainResult(curve, done * tokens / seconds if seconds else math.nan, seconds, note)


def _state(step: int, seconds: float, curve: list[dict[str, float]], model: Transformer,
           optimizer: torch.optim.Optimizer, generator: torch.Generator) -> dict:
    """Everything the steps after ``step`` depend on (Snapshots); its tensors are the model's and the optimizer's
    own, which the next step changes: ``keep`` writes (or copies) them at once."""
    return {"step": step, "seconds": seconds, "curve": list(curve), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "generator": generator.get_state(), "rng": torch.get_rng_state()}


def _fits(state: dict, model: Transformer) -> bool:
    """True if the kept weights have the model's names and shapes (a user's encoding edited since, with a
    parameter more or less, does not: its training starts at step 0 rather than failing on every rerun)."""
    ours = model.state_dict()
    kept = state.get("model", {})
    return kept.keys() == ours.keys() and all(kept[name].shape == ours[name].shape for name in ours)


def _restore(state: dict, model: Transformer, optimizer: torch.optim.Optimizer, generator: torch.Generator
             ) -> tuple[int, float, list[dict[str, float]]]:
    """Put a kept state back; the step to go on from, the seconds spent before it, the curve so far."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["rng"])
    return state["step"], state["seconds"], list(state["curve"])
