"""Greedy answers through the KV cache: what a deployed model would say, byte by byte.

The bytes before the first answer go in as one prefill; from there each answer byte is the
argmax of the last logits and is fed back in (the model's own answer, not the true one),
together with the given bytes up to the next answer. Copy decodes its whole string one byte
at a time; recall feeds "value, next key" pairs; passkey decodes its 6 answer bytes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pe_bench.model import Transformer


def greedy_answers(model: Transformer, tokens: Tensor, answer: Tensor) -> Tensor:
    """The model's answers (B, A) to ``tokens`` (B, T), answer bytes at ``answer`` (T,) True.

    Every example of the batch has its answers at the same places (the tasks' layouts depend
    on the length only). Raises what the model raises (a position past a learned table).
    """
    where = answer.nonzero().flatten().tolist()  # answer positions, ascending
    device = model.token_embedding.weight.device
    tokens = tokens.to(device)
    cache = model.new_cache(tokens.shape[0], tokens.shape[1])
    predicted = []
    with torch.no_grad():
        logits = model(tokens[:, : where[0]], cache=cache)  # (B, t, V)
        for i, position in enumerate(where):
            guess = logits[:, -1].argmax(dim=-1)  # (B,)
            predicted.append(guess)
            if i + 1 == len(where):
                break
            chunk = tokens[:, position: where[i + 1]].clone()  # this answer byte, then the given ones
            chunk[:, 0] = guess
            logits = model(chunk, cache=cache)
    return torch.stack(predicted, dim=1)  # (B, A)
