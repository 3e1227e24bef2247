"""Greedy answers through the KV cache: what a deployed model would say, byte by byte.

The bytes before the first answer go in as one prefill; from there each answer byte is the
argmax of the last logits and is fed back in (the model's own answer, not the true one),
together with the given bytes up to the next answer. Copy decodes its whole string one byte
at a time; recall feeds "value, next key" pairs; passkey decodes its 6 answer bytes;
flip-flop answers each read. Positions are 0..T-1 unless given (a model trained on randomized
positions can be asked at positions drawn the same way).
"""

from __future__ import annotations

import torch
from torch import Tensor

from pe_bench.model import Transformer


def greedy_answers(model: Transformer, tokens: Tensor, answer: Tensor, positions: Tensor | None = None) -> Tensor:
    """``tokens`` (B, T) with the model's greedy answers in the answer slots: (B, T).

    ``answer`` marks the answer bytes, (T,) when every example has them at the same places
    (passkey, copy, recall: their layouts depend on the length only) or (B, T) (flip-flop).
    The model goes through the union of the answer places; at each one an example whose
    answer it is gets the model's guess fed back, the others their given byte. ``positions``:
    the (T,) positions of the bytes, shared by the batch (None: 0..T-1). Raises what the model
    raises (a position past a learned table).
    """
    device = model.token_embedding.weight.device
    tokens = tokens.to(device).clone()
    answer = answer.to(device).expand_as(tokens)  # (B, T)
    where = answer.any(dim=0).nonzero().flatten().tolist()  # answer places of any example, ascending
    positions = torch.arange(tokens.shape[1]) if positions is None else positions
    positions = positions.to(device)
    cache = model.new_cache(tokens.shape[0], tokens.shape[1])
    with torch.no_grad():
        logits = model(tokens[:, : where[0]], positions[: where[0]], cache=cache)  # (B, t, V)
        for i, position in enumerate(where):
            guess = logits[:, -1].argmax(dim=-1)  # (B,)
            tokens[:, position] = torch.where(answer[:, position], guess, tokens[:, position])
            if i + 1 == len(where):
                break
            span = slice(position, where[i + 1])  # this answer byte, then the given ones
            logits = model(tokens[:, span], positions[span], cache=cache)
    return tokens
