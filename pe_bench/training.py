"""Training a byte-level language model: the same data order, optimizer and schedule for every
encoding, so that the encoding is the only difference between two runs.

Batches are windows of ``train_len + 1`` bytes at random offsets of the training stream,
drawn from a generator seeded with ``seed``; or, with a ``sampler``, whatever batches it draws
from that generator (task examples, with positions and a loss mask). AdamW, linear warm-up
then cosine decay to a tenth of the peak rate, gradients clipped at norm 1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from pe_bench.model import Transformer
from pe_bench.runtime import Runtime

#: a loss above this (3 x ln 256, three times a uniform guess over bytes) means training diverged
DIVERGED_LOSS = 3 * math.log(256)


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


#: draws one batch from the generator: inputs (B, T), targets (B, T), positions (T,) or None
#: (0..T-1), loss mask (B, T) bool or None (every target counts)
Sampler = Callable[[torch.Generator], tuple[Tensor, Tensor, Tensor | None, Tensor | None]]


def masked_loss(model: Transformer, x: Tensor, y: Tensor, positions: Tensor | None, mask: Tensor | None) -> Tensor:
    """Mean next-token cross-entropy over the targets ``mask`` keeps (all of them if None)."""
    if mask is None:
        return model.loss(x, y, positions)
    logits = model(x, positions)  # (B, T, V)
    return F.cross_entropy(logits[mask], y[mask])


def train(model: Transformer, data: Tensor | None, config: TrainConfig, runtime: Runtime,
          advance: Callable[..., None] = lambda n=1, **f: None, sampler: Sampler | None = None) -> TrainResult:
    """Train ``model`` in place on the byte stream ``data``, or on ``sampler``'s batches if given;
    stops early if the loss diverges."""
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.95), weight_decay=0.01)
    model.train()
    curve: list[dict[str, float]] = []
    tokens = config.batch_size * config.train_len  # with a sampler: an upper bound (its lengths vary up to this)
    start = last = time.perf_counter()
    note = ""
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, config)
        if sampler is None:
            x, y = sample_batch(data, config.train_len, config.batch_size, generator)
            loss = model.loss(x.to(runtime.device), y.to(runtime.device))
        else:
            x, y, positions, mask = sampler(generator)
            loss = masked_loss(model, x.to(runtime.device), y.to(runtime.device), positions,
                               None if mask is None else mask.to(runtime.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        value = loss.item()
        if not math.isfinite(value) or value > DIVERGED_LOSS:
            note = f"training diverged at step {step + 1} (loss {value:.3g})"
            break
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            now = time.perf_counter()
            steps_done = (step + 1) - (curve[-1]["step"] if curve else 0)
            curve.append({"step": step + 1, "loss": value, "tokens_per_s": steps_done * tokens / (now - last)})
            last = now
            advance(steps_done, loss=f"{value:.3f}")
    seconds = time.perf_counter() - start
    model.eval()
    done = curve[-1]["step"] if curve else 0
    return TrainResult(curve, done * tokens / seconds if seconds else math.nan, seconds, note)
