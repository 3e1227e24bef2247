"""The same shapes in pe-bench and in two peer libraries, randomly initialised (nothing is downloaded).

x-transformers (T5 relative position bias, ALiBi, rotary, no PE: a decoder of pe-bench's
width, depth and heads, MLP 4x, flash attention where it allows it — it refuses it with T5's
bias) and Hugging Face's ``LlamaForCausalLM`` (rotary; built from a config, its gated MLP of
the same size as pe-bench's: 3 d I = 8 d^2, SDPA attention). Each model is a callable
tokens -> logits; pe-bench's models run on the sdpa backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from pe_bench.errors import InputError
from pe_bench.model import ModelConfig, build_model

INSTALL_HINT = 'pip install -e ".[peers]"'
PEBENCH, XTRANSFORMERS, LLAMA = "pe-bench", "x-transformers", "hf-llama"
#: encoding -> x-transformers Decoder options giving the same positional scheme
XT_OPTIONS: dict[str, dict[str, bool]] = {
    "nope": {"attn_flash": True},
    "rope": {"rotary_pos_emb": True, "attn_flash": True},
    "alibi": {"alibi_pos_bias": True, "attn_flash": True},
    "t5": {"rel_pos_bias": True},  # x-transformers refuses flash attention with T5's bias
}
PEER_ENCODINGS = tuple(XT_OPTIONS)


def require_peers() -> dict[str, str]:
    """The peer libraries' versions; InputError naming the install command if one is missing."""
    from importlib import import_module
    from importlib.metadata import version

    try:
        for module in ("x_transformers", "transformers"):
            import_module(module)
    except ImportError as e:
        raise InputError(f"pe-bench peers needs the optional peer libraries ({e.name} is missing): "
                         f"{INSTALL_HINT}") from None
    return {XTRANSFORMERS: version("x-transformers"), LLAMA: version("transformers")}


@dataclass
class PeerModel:
    """One library's model of one encoding: the module (for its parameters) and tokens -> logits."""

    library: str
    encoding: str
    module: nn.Module
    logits: Callable[[torch.Tensor], torch.Tensor]


def llama_intermediate(d_model: int, mlp_ratio: int) -> int:
    """The gated MLP's hidden size with as many weights as pe-bench's: 3 d I = 2 r d^2."""
    return round(2 * mlp_ratio * d_model / 3)


def build_peers(config: ModelConfig, max_len: int, seed: int) -> list[PeerModel]:
    """pe-bench and x-transformers for every encoding in ``PEER_ENCODINGS``, and Llama (rotary)."""
    from transformers import LlamaConfig, LlamaForCausalLM
    from x_transformers import Decoder, TransformerWrapper

    models = []
    config = ModelConfig(**{**config.__dict__, "max_len": max(config.max_len, max_len), "backend": "sdpa"})
    for name in PEER_ENCODINGS:
        ours = build_model(name, config, seed=seed)
        models.append(PeerModel(PEBENCH, name, ours, ours))
    for name in PEER_ENCODINGS:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            theirs = TransformerWrapper(
                num_tokens=config.vocab_size, max_seq_len=max_len, use_abs_pos_emb=False,
                attn_layers=Decoder(dim=config.d_model, depth=config.n_layers, heads=config.n_heads,
                                    ff_mult=config.mlp_ratio, **XT_OPTIONS[name]))
        models.append(PeerModel(XTRANSFORMERS, name, theirs, theirs))
    llama_config = LlamaConfig(
        vocab_size=config.vocab_size, hidden_size=config.d_model, num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads, num_key_value_heads=config.n_heads,
        intermediate_size=llama_intermediate(config.d_model, config.mlp_ratio),
        max_position_embeddings=max_len, attn_implementation="sdpa", tie_word_embeddings=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        llama = LlamaForCausalLM(llama_config)
    models.append(PeerModel(LLAMA, "rope", llama, lambda tokens: llama(tokens, use_cache=False).logits))
    return models
