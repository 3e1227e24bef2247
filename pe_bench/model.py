"""One generic pre-LayerNorm transformer that takes its positional encoding as a component.

The encoding is never special-cased here: the model asks it for an embedding, a rotation
and a bias at the positions of this forward pass, and whichever of the three it answers
with does the work. Decoder (causal) by default; ``causal=False`` gives bidirectional,
encoder-style attention.

Token embeddings are multiplied by sqrt(d_model) before the position embedding is added,
as in Vaswani et al., so a unit-amplitude sinusoidal table does not drown the tokens. This
is the same for every encoding. The output head shares the token embedding's weights.

Shape letters: B batch, T new tokens, S key slots, H heads, D head_dim, C d_model, V vocab.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pe_bench.backends import AttentionInputs, check_backend
from pe_bench.cache import CacheStep, KVCache, policy_mask
from pe_bench.encodings import PositionalEncoding, build_encoding, encoding_class
from pe_bench.errors import InputError, Unsupported
from pe_bench.layer_caches import LayerCaches
from pe_bench.layers import Block


@dataclass(frozen=True)
class ModelConfig:
    """Everything that determines the model's shape and behaviour, except the encoding itself."""

    vocab_size: int = 256
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    mlp_ratio: int = 4
    max_len: int = 1024  # table size of encodings that have one (learned absolute)
    causal: bool = True
    backend: str = "sdpa"  # a name in pe_bench.backends.BACKENDS
    compile_flex: bool = True  # False runs flex_attention uncompiled (slow, but no compile wait)
    encoding_options: dict[str, object] = field(default_factory=dict)  # e.g. {"base": 500000.0}
    # the std of every weight matrix but the token embedding's: GPT-2's 0.02, the residual projections shrunk by
    # sqrt(2 n_layers); or None: 1/sqrt(3 fan_in) per matrix and no shrink (PyTorch's default scale, 0.02 at GPT-2's
    # width of 768). At width 64 GPT-2's rule leaves the attention outputs 7x smaller than that, and the two-layer
    # circuits copying and recall need did not form (tasks suite, issue 21)
    init_std: float | None = 0.02
    # the std of the token embedding (tied to the head; scaled by sqrt(d_model) going in): GPT-2's 0.02, or None:
    # 1/sqrt(d_model), so each coordinate enters the first block at unit size. The tasks suite's recall needs the
    # latter and copy the former at its budget (docs/tasks.md)
    embedding_std: float | None = 0.02
    # on CUDA only (training.py): train under torch.autocast in this dtype (weights stay in the
    # run's dtype), and with this attention backend (flex: its backward runs on CUDA, not on CPU)
    train_autocast: str | None = None
    train_backend: str | None = None

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


PRESETS: dict[str, ModelConfig] = {
    # for tests: a few milliseconds per forward; flex runs uncompiled
    "tiny": ModelConfig(d_model=32, n_layers=4, n_heads=4, max_len=256, compile_flex=False),
    # byte-level model that learns something in a few hundred CPU steps
    "quick": ModelConfig(d_model=128, n_layers=4, n_heads=4, max_len=1024),
    # the shape of the peer-library (x-transformers) speed comparison: 4 layers, width 256, 4 heads
    "standard": ModelConfig(d_model=256, n_layers=4, n_heads=4, max_len=4096),
    # for GPUs: the class of model the ALiBi paper trained (12 layers, width 768, 12 heads; ~85M
    # parameters besides the embedding), trained on CUDA with bf16 autocast and flex attention
    "large": ModelConfig(d_model=768, n_layers=12, n_heads=12, max_len=8192, train_autocast="bfloat16",
                         train_backend="flex"),
}


def preset(name: str, **overrides: object) -> ModelConfig:
    """The named preset, with fields replaced by ``overrides``."""
    if name not in PRESETS:
        raise InputError(f"unknown preset '{name}'; valid: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


def estimate_bytes(config: ModelConfig, batch: int, length: int, *, train: bool = False) -> int:
    """A rough upper estimate of the memory one forward pass (and backward, ``train``) needs.

    The (B, H, T, T) scores are counted as if materialized (eager, or SDPA with a dense bias)
    three times over — scores, probabilities, mask — and, in training, kept for every layer;
    activations about 20 values of width d_model per token and layer; logits three times
    (B, T, vocab). It exists to refuse an absurd length before any work, not to predict a peak.
    """
    B, T, L = batch, length, config.n_layers
    scores = B * config.n_heads * T * T * 4 * (3 + (2 * L if train else 0))
    activations = B * T * config.d_model * 4 * 20 * L * (2 if train else 1)
    return scores + activations + 3 * B * T * config.vocab_size * 4


def init_std(config: ModelConfig, name: str, weight: Tensor) -> float:
    """The initial std of the weight matrix ``name`` (see ``ModelConfig.init_std``)."""
    if config.init_std is None:
        return 1 / math.sqrt(3 * weight.shape[-1])  # (out, in): fan_in is the last dimension
    residual = name.endswith(("out.weight", "mlp.2.weight"))  # GPT-2: residual projections shrunk by depth
    return config.init_std / math.sqrt(2 * config.n_layers) if residual else config.init_std


def embedding_std(config: ModelConfig) -> float:
    """The initial std of the token embedding (see ``ModelConfig.embedding_std``)."""
    return 1 / math.sqrt(config.d_model) if config.embedding_std is None else config.embedding_std


class Transformer(nn.Module):
    """A language model over ``config.vocab_size`` tokens with the given positional encoding.

    Args:
        config: shape and attention backend.
        encoding: an encoding instance, or a registry name built from ``config``.
    """

    def __init__(self, config: ModelConfig, encoding: PositionalEncoding | str) -> None:
        super().__init__()
        check_backend(config.backend)
        self.config = config
        if isinstance(encoding, str):
            encoding = build_encoding(encoding, d_model=config.d_model, n_heads=config.n_heads,
                                      max_len=config.max_len, causal=config.causal, **config.encoding_options)
        if note := too_shallow(type(encoding), config):
            raise Unsupported(note)
        self.encoding = encoding
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(
            Block(config.d_model, config.n_heads, config.mlp_ratio, config.backend, encoding.for_layer(i).layer_context())
            for i in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.token_embedding.weight  # tied, as in GPT-2
        self._init_weights()

    def _init_weights(self) -> None:
        for name, p in self.named_parameters():
            if name.startswith("encoding.") or ".context." in name:
                continue  # encodings (and contextual encodings' parts in each layer) initialise their own parameters
            if p.dim() >= 2:
                nn.init.normal_(p, std=embedding_std(self.config) if name.startswith("token_embedding")
                                else init_std(self.config, name, p))
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def encoding_parameters(self) -> dict[str, nn.Parameter]:
        """The positional encoding's parameters: its own, and a contextual encoding's in every layer."""
        own = dict(self.encoding.named_parameters())
        return own | {n: p for n, p in self.named_parameters() if ".context." in n}  # blocks.<i>.attention.context.

    @property
    def backend(self) -> str:
        return self.blocks[0].attention.backend

    @backend.setter
    def backend(self, name: str) -> None:
        check_backend(name)
        for block in self.blocks:
            block.attention.backend = name

    def new_cache(self, batch_size: int, capacity: int, *, policy: str = "full", sinks: int = 0,
                  position_rule: str = "original") -> KVCache | LayerCaches:
        """An empty KV cache shaped for this model, on its device and in its dtype; a schedule with
        sliding-window layers gets one per attention span (layer_caches.py)."""
        weight = self.token_embedding.weight
        c = self.config
        state = max((b.attention.context.state_size for b in self.blocks if b.attention.context is not None), default=0)

        def make(n_layers: int, capacity: int, policy: str, sinks: int, rule: str = position_rule) -> KVCache:
            return KVCache(n_layers=n_layers, batch_size=batch_size, n_heads=c.n_heads, head_dim=c.head_dim,
                           capacity=capacity, policy=policy, sinks=sinks, position_rule=rule,
                           state_size=state, dtype=weight.dtype, device=weight.device)

        spans = [self.encoding.layer_window(i) for i in range(c.n_layers)]
        if all(span is None for span in spans):
            return make(c.n_layers, capacity, policy, sinks)
        return LayerCaches(spans, make, capacity, policy, sinks, position_rule)

    def forward(self, tokens: Tensor, positions: Tensor | None = None, cache: KVCache | LayerCaches | None = None,
                attn_mask: Tensor | None = None) -> Tensor:
        """Logits (B, T, V) for ``tokens`` (B, T).

        Args:
            tokens: token ids, (B, T).
            positions: (T,) positions of these tokens, shared by the batch. Default:
                0..T-1, or where the cache's stream left off.
            cache: a KVCache to read earlier tokens from and write these to.
            attn_mask: (T, S) bool, True where a query may attend a key; replaces the
                causal rule (S = T without a cache, else the cache's valid slots).
        """
        T = tokens.shape[1]
        device = tokens.device
        if positions is None:
            positions = cache.default_positions(T) if cache is not None else torch.arange(T, device=device)
        if positions.shape != (T,):
            raise InputError(f"positions must have shape ({T},), got {tuple(positions.shape)}")
        positions = positions.to(device=device, dtype=torch.long)

        step = cache.reserve(positions) if cache is not None else None
        try:
            return self._forward(tokens, positions, cache, step, attn_mask)
        except BaseException:
            if cache is not None:
                cache.undo(step)  # a failed step (e.g. a position past a learned table) leaves no trace
            raise

    def _forward(self, tokens: Tensor, positions: Tensor, cache: KVCache | LayerCaches | None,
                 step: CacheStep | None, attn_mask: Tensor | None) -> Tensor:
        x = self.token_embedding(tokens) * math.sqrt(self.config.d_model)  # (B, T, C)
        pe = self.encoding.embedding(step.q_pos if step is not None else positions, x.dtype)
        if pe is not None:
            x = x + pe  # (T, C) broadcast over the batch
        built: dict[tuple, AttentionInputs] = {}  # one per (encoding, cache, window) the layers use
        for i, block in enumerate(self.blocks):
            layer_cache, layer_step, index = cache.layer(i, step) if cache is not None else (None, None, i)
            encoding, window = self.encoding.for_layer(i), self.encoding.layer_window(i)
            key = (id(encoding), id(layer_cache), window)
            if key not in built:
                built[key] = self._inputs(encoding, positions, layer_cache, layer_step, attn_mask, window, x.dtype)
            x = block(x, built[key], layer_cache, layer_step, index)
        return self.head(self.norm(x))  # (B, T, V)

    def _inputs(self, encoding: PositionalEncoding, positions: Tensor, cache: KVCache | None, step: CacheStep | None,
                attn_mask: Tensor | None, window: int | None, dtype: torch.dtype) -> AttentionInputs:
        """What attention needs to know about positions in the layers of ``encoding`` (one of a schedule's)
        over ``cache`` (its span's), seeing the latest ``window`` keys (None: all)."""
        q_pos = step.q_pos if step is not None else positions  # (T,)
        k_pos = step.k_pos if step is not None else positions  # (S,)
        kv_len = step.kv_len if step is not None else positions.shape[0]
        allowed = attn_mask
        if step is not None and step.allowed is not None:  # a prefill longer than a window cache: its own mask
            allowed = step.allowed if allowed is None else allowed & step.allowed
        if window is not None and cache is None:
            span = policy_mask(kv_len, window, 0, device=positions.device)
            allowed = span if allowed is None else allowed & span
        elif window is not None and cache.capacity > window:  # a cache that keeps more than the window (layer_caches)
            distance = q_pos[:, None] - k_pos[None, :kv_len]
            span = (distance >= 0) & (distance < window)  # causal too: ``allowed`` replaces the causal rule
            allowed = span if allowed is None else allowed & span
        raw_keys_cached = cache is not None and not (cache.stores_transformed_keys and encoding.caches_transformed_keys)
        # an encoding that never caches transformed keys may centre its transform on the newest query
        reference = None if encoding.caches_transformed_keys else int(q_pos.max())
        return AttentionInputs(
            q_pos=q_pos, k_pos=k_pos, kv_len=kv_len, causal=self.config.causal,
            bias=encoding.attention_bias(dtype), allowed=allowed,
            transform=encoding.qk_transform(q_pos, dtype, reference),
            key_transform=encoding.qk_transform(k_pos, dtype, reference) if raw_keys_cached else None,
            compile_flex=self.config.compile_flex,
        )

    def loss(self, tokens: Tensor, targets: Tensor, positions: Tensor | None = None) -> Tensor:
        """Mean next-token cross-entropy of ``targets`` (B, T) given ``tokens`` (B, T)."""
        logits = self(tokens, positions)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def too_shallow(encoding: str | type[PositionalEncoding], config: ModelConfig | str) -> str | None:
    """Why a model of ``config``'s depth cannot hold ``encoding`` (a schedule naming more layers), or None."""
    cls = encoding_class(encoding) if isinstance(encoding, str) else encoding
    config = preset(config) if isinstance(config, str) else config
    if config.n_layers >= cls.layers_needed():
        return None
    return (f"{cls.name} names {cls.layers_needed()} layers and this model has {config.n_layers}: its last entries "
            f"would never run (a schedule of at most {config.n_layers} entries, such as [rope,nope], fits)")


def build_model(encoding: str, config: ModelConfig | str = "quick", seed: int | None = 0,
                **overrides: object) -> Transformer:
    """A Transformer with ``encoding`` from a config or preset name.

    With a ``seed``, the weights depend on it alone; the caller's global random state is
    left as it was.
    """
    if isinstance(config, str):
        config = preset(config, **overrides)
    elif overrides:
        config = replace(config, **overrides)
    if seed is None:
        return Transformer(config, encoding)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Transformer(config, encoding)
