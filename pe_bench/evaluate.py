"""Language-model evaluation: perplexity at a length, the ALiBi paper's two ways, and streaming.

- Non-overlapping windows: the text is cut into windows of length E; every token is
  predicted from the tokens before it in its window (so from 0 .. E-1 tokens of context).
- Sliding windows: windows of length E start every ``stride`` tokens; the first window
  scores all its tokens, later ones only their last ``stride``, so every token after the
  first window has at least E - stride tokens of context.
- Streaming: tokens go through a bounded KV cache one at a time, as a deployed model
  would read an endless stream (see cache.py for the policies and position rules).

All functions return a mean negative log-likelihood in nats and a token count; perplexity
is exp of the mean.
"""

from __future__ import annotations

import math
import statistics

import torch
import torch.nn.functional as F
from torch import Tensor

from pe_bench.encodings import PositionalEncoding
from pe_bench.model import Transformer
from pe_bench.runtime import Runtime
from pe_bench.timing import timed_call

#: tokens per forward batch in evaluation (windows are stacked until they reach this)
BATCH_TOKENS = 16384


def _windows_nll(model: Transformer, x: Tensor, y: Tensor, scored_from: int | Tensor) -> tuple[float, int]:
    """Sum of NLL over windows (n, E), scoring positions >= ``scored_from`` (per window or all)."""
    total, count = 0.0, 0
    per_batch = max(1, BATCH_TOKENS // x.shape[1])
    device = model.token_embedding.weight.device
    start = torch.as_tensor(scored_from).expand(x.shape[0])
    with torch.no_grad():
        for a in range(0, x.shape[0], per_batch):
            xb, yb = x[a: a + per_batch].to(device), y[a: a + per_batch].to(device)
            nll = F.cross_entropy(model(xb).float().transpose(1, 2), yb, reduction="none")  # (b, E)
            keep = torch.arange(x.shape[1], device=device)[None, :] >= start[a: a + per_batch, None].to(device)
            total += nll[keep].sum().item()
            count += int(keep.sum())
    return total, count


def nonoverlap_nll(model: Transformer, tokens: Tensor, length: int) -> float:
    """Mean NLL over windows of ``length`` cut from ``tokens`` (N + 1 bytes: inputs and targets)."""
    n = (tokens.numel() - 1) // length
    x = tokens[: n * length].long().view(n, length)
    y = tokens[1: n * length + 1].long().view(n, length)
    total, count = _windows_nll(model, x, y, 0)
    return total / count


def sliding_nll(model: Transformer, tokens: Tensor, length: int, stride: int) -> float:
    """Mean NLL with windows of ``length`` every ``stride`` tokens (see the module docstring)."""
    x = tokens[:-1].long().unfold(0, length, stride)  # (n, length)
    y = tokens[1:].long().unfold(0, length, stride)
    scored_from = torch.full((x.shape[0],), length - stride)
    scored_from[0] = 0
    total, count = _windows_nll(model, x, y, scored_from)
    return total / count


def stream_nll(model: Transformer, tokens: Tensor, runtime: Runtime, *, window: int, policy: str, sinks: int = 0,
               position_rule: str = "original") -> tuple[float, float]:
    """Mean NLL and median ms per token streaming ``tokens`` through a bounded cache.

    The first window // 2 tokens go in as one prefill (exact: nothing is evicted yet), the
    rest one at a time.
    """
    cache = model.new_cache(1, window, policy=policy, sinks=sinks, position_rule=position_rule)
    x = tokens[:-1].long()[None].to(runtime.device)
    y = tokens[1:].long().to(runtime.device)
    prefill = window // 2
    seconds = []
    with torch.no_grad():
        logits = [model(x[:, :prefill], cache=cache)[0]]
        for t in range(prefill, x.shape[1]):
            step, s = timed_call(lambda: model(x[:, t: t + 1], cache=cache), runtime)
            logits.append(step[0])
            seconds.append(s)
    nll = F.cross_entropy(torch.cat(logits).float(), y)
    return nll.item(), statistics.median(seconds) * 1e3


def full_nll(model: Transformer, tokens: Tensor) -> float:
    """Mean NLL of one forward pass over all of ``tokens`` (every token sees its whole prefix)."""
    return nonoverlap_nll(model, tokens, tokens.numel() - 1)


def cached_decode_divergence(model: Transformer, tokens: Tensor, prefill: int,
                             switch_to: PositionalEncoding | None = None) -> dict[str, float]:
    """Prefill, decode the rest token by token, and compare with one full forward over all of it.

    Returns the largest logit difference over the decoded tokens and the NLL of each way.
    For an encoding whose rotation depends on the current length (dynamic RoPE scaling),
    this is where cached keys and recomputed ones disagree. ``switch_to``, if given, is the
    encoding past the prefill (LongRoPE's long factors past L): the decoding steps and the full
    forward use it, the prefill's cached keys keep the model's own. The model's encoding is
    left as it was.
    """
    x = tokens[:-1].long()[None].to(model.token_embedding.weight.device)
    y = tokens[1:].long().to(x.device)
    cache = model.new_cache(1, x.shape[1])
    before = model.encoding
    after = switch_to or before
    with torch.no_grad():
        try:
            model.encoding = after
            full = model(x)[0]  # (T, V)
            model.encoding = before
            steps = [model(x[:, :prefill], cache=cache)[0]]
            model.encoding = after
            steps += [model(x[:, t: t + 1], cache=cache)[0] for t in range(prefill, x.shape[1])]
        finally:
            model.encoding = before
    cached = torch.cat(steps)
    decoded = slice(prefill, x.shape[1])
    return {
        "max_abs_logit_diff": (cached[decoded] - full[decoded]).abs().max().item(),
        "nll_cached": F.cross_entropy(cached[decoded].float(), y[decoded]).item(),
        "nll_full": F.cross_entropy(full[decoded].float(), y[decoded]).item(),
    }


def perplexity(nll: float) -> float:
    """exp(mean NLL); NaN for a NaN or infinite NLL."""
    return math.exp(nll) if math.isfinite(nll) else math.nan
