"""The ten checks: each builds the encoding's tiny model and measures one part of the contract
or one claim, and says what it measured (or what broke, and by how much)."""

from __future__ import annotations

import torch

from pe_bench.backends import BACKENDS
from pe_bench.cache import policy_mask
from pe_bench.check.models import decode, hook_problems, max_diff, nan_last, reference, seeded_tokens, tiny_model
from pe_bench.check.registry import (
    BACKEND_TOL, BATCH, CACHE_TOL, CLAIMS, FAR, FLEX_STEPS, GRAD_BACKENDS, MEASURABLE, OFFSETS, POSITIONS_TOL, PREFILL,
    SEQ_LEN, SHIFT_TOL, SINKS, WINDOW, check, one_line,
)
from pe_bench.encodings import Family, encoding_class
from pe_bench.errors import InputError, PositionOutOfRange


@check("interface")
def check_interface(name: str) -> tuple[bool, str]:
    """Name, description, bool claims, one family whose hook answers with the documented type and
    shape, the other hooks None."""
    cls = encoding_class(name)
    problems = [f"{claim} is {getattr(cls, claim, None)!r}, not a bool" for claim in CLAIMS
                if not isinstance(getattr(cls, claim, None), bool)]
    if getattr(cls, "name", None) != name:
        problems.append(f"name is {getattr(cls, 'name', None)!r}, registered as {name!r}")
    if not isinstance(getattr(cls, "description", None), str) or not cls.description.strip():
        problems.append("no description")
    family = getattr(cls, "family", None)
    if not isinstance(family, Family):
        problems.append(f"family is {family!r}, not one of {', '.join(f.value for f in Family)}")
    if problems:
        return False, "; ".join(problems)
    enc = tiny_model(name).encoding
    if enc.max_len is not None and (type(enc.max_len) is not int or enc.max_len < 1):
        problems.append(f"max_len is {enc.max_len!r}, not None or a positive int")
    positions = torch.tensor([3, 5, 6, 11, 12])  # deliberately not arange
    answers = {Family.EMBEDDING: ("embedding", enc.embedding(positions, torch.float32)),
               Family.ROTARY: ("qk_transform", enc.qk_transform(positions, torch.float32, reference(enc, positions))),
               Family.BIAS: ("attention_bias", enc.attention_bias(torch.float32))}
    for hook_family, (hook, answer) in answers.items():
        if (answer is None) == (hook_family is family):
            got = "None" if answer is None else type(answer).__name__
            problems.append(f"{hook} returned {got} for a {family.value} encoding")
    if family in answers and answers[family][1] is not None:
        problems += hook_problems(family, answers[family][1], enc, positions)
    if problems:
        return False, "; ".join(problems)
    hook = f"{answers[family][0]} answers as documented; other hooks None" if family in answers else "no hook answers"
    return True, f"{family.value} family: {hook}; claims are bools"


@check("backends agree")
def check_backends(name: str) -> tuple[bool, str]:
    """Every backend gives eager's logits to 1e-5, causal and (unless causal_only) bidirectional."""
    tokens = seeded_tokens()
    modes = (True,) if encoding_class(name).causal_only else (True, False)
    diffs = {}
    for causal in modes:
        model = tiny_model(name, causal=causal)
        outputs = {}
        with torch.no_grad():
            for backend in BACKENDS:
                model.backend = backend
                outputs[backend] = model(tokens)
        for backend in BACKENDS:
            if backend != "eager":
                diffs[(backend, "causal" if causal else "bidirectional")] = max_diff(outputs[backend], outputs["eager"])
    (backend, mode), worst = max(diffs.items(), key=lambda kv: nan_last(kv[1]))
    if worst <= BACKEND_TOL:
        named = " and ".join("causal" if c else "bidirectional" for c in modes)
        return True, f"max |diff| vs eager {worst:.1e} <= {BACKEND_TOL:.0e} ({named})"
    return False, f"{backend} differs from eager by {worst:.1e} > {BACKEND_TOL:.0e} ({mode})"


@check("cached decoding")
def check_cache(name: str) -> tuple[bool, str]:
    """Prefill + one token per step = a full forward (full cache, every backend; window and sinks
    caches on sdpa against the masked full forward); measurably not, where exact_cache = False."""
    tokens = seeded_tokens()
    T = tokens.shape[1]
    model = tiny_model(name, sharp=True)
    diffs = {}
    with torch.no_grad():
        for backend in BACKENDS:
            model.backend = backend
            prefill = T - FLEX_STEPS if backend == "flex" else PREFILL
            cached = decode(model, tokens, model.new_cache(BATCH, T), prefill)
            diffs[f"full cache, {backend}"] = max_diff(cached, model(tokens))
        if not encoding_class(name).exact_cache:
            where, least = min(diffs.items(), key=lambda kv: nan_last(kv[1]))
            if least > MEASURABLE:
                return True, f"not exact, as claimed: cached vs full differ by >= {least:.1e} > {MEASURABLE:.0e}"
            return False, (f"claims exact_cache = False, but cached decoding matches the full forward "
                           f"({where}: {least:.1e} <= {MEASURABLE:.0e})")
        model.backend = "sdpa"
        for policy, sinks in (("window", 0), ("sinks", SINKS)):
            reference = model(tokens, attn_mask=policy_mask(T, WINDOW, sinks))
            cache = model.new_cache(BATCH, WINDOW, policy=policy, sinks=sinks)
            diffs[f"{policy} cache, sdpa"] = max_diff(decode(model, tokens, cache), reference)
    where, worst = max(diffs.items(), key=lambda kv: nan_last(kv[1]))
    if worst <= CACHE_TOL:
        return True, f"max |diff| {worst:.1e} <= {CACHE_TOL:.0e} (full on {', '.join(BACKENDS)}; window, sinks)"
    return False, f"cached decoding differs from the full forward by {worst:.1e} > {CACHE_TOL:.0e} ({where})"


@check("explicit positions")
def check_positions(name: str) -> tuple[bool, str]:
    """positions = arange(T) gives the default output; hooks at positions [7, 9] give rows 7 and 9 of 0..9."""
    tokens = seeded_tokens()
    model = tiny_model(name)
    with torch.no_grad():
        default = model(tokens)
        explicit = model(tokens, positions=torch.arange(tokens.shape[1]))
    diff = max_diff(explicit, default)
    if not diff <= POSITIONS_TOL:
        return False, f"positions=arange(T) differs from the default by {diff:.1e} > {POSITIONS_TOL:.0e}"
    enc, full, part, rows = model.encoding, torch.arange(10), torch.tensor([7, 9]), [7, 9]
    with torch.no_grad():
        if enc.family is Family.EMBEDDING:
            hook = "embedding"
            rows_diff = max_diff(enc.embedding(part, torch.float32), enc.embedding(full, torch.float32)[rows])
        elif enc.family is Family.ROTARY:
            hook = "qk_transform"
            x = torch.randn(1, enc.n_heads, 10, enc.head_dim)
            some = enc.qk_transform(part, torch.float32, reference(enc, full))
            every = enc.qk_transform(full, torch.float32, reference(enc, full))
            rows_diff = max(max_diff(getattr(some, s)(x[:, :, rows]), getattr(every, s)(x)[:, :, rows])
                            for s in ("queries", "keys"))
        elif enc.family is Family.BIAS:
            hook = "attention_bias"
            bias = enc.attention_bias(torch.float32)
            rows_diff = max_diff(bias.materialize(part, full), bias.materialize(full, full)[:, rows])
        else:
            return True, f"arange = default: {diff:.1e}"
    if not rows_diff <= POSITIONS_TOL:
        return False, (f"{hook} at positions [7, 9] differs from rows 7, 9 at positions 0..9 by {rows_diff:.1e} "
                       f"> {POSITIONS_TOL:.0e}: it does not use the positions it is given")
    return True, f"arange = default: {diff:.1e}; {hook} rows follow the positions given: {rows_diff:.1e}"


@check("shift claim")
def check_shift(name: str) -> tuple[bool, str]:
    """A relative encoding's logits do not move when positions shift; an absolute one's measurably do."""
    tokens = seeded_tokens()
    T = tokens.shape[1]
    model = tiny_model(name, sharp=True)
    limit = model.encoding.max_len
    fits = [c for c in OFFSETS if limit is None or c + T <= limit]
    skipped = f"; offsets {', '.join(map(str, (c for c in OFFSETS if c not in fits)))} skipped (past max_len " \
              f"{limit})" if len(fits) < len(OFFSETS) else ""
    if not fits:
        return True, f"not measured: no offset fits max_len {limit}{skipped}"
    with torch.no_grad():
        base = model(tokens)
        diffs = {c: max_diff(model(tokens, positions=torch.arange(T) + c), base) for c in fits}
    offset, worst = max(diffs.items(), key=lambda kv: nan_last(kv[1]))
    if encoding_class(name).shift_invariant:
        if worst <= SHIFT_TOL:
            return True, f"relative, as claimed: max |diff| {worst:.1e} <= {SHIFT_TOL:.0e} at offsets " \
                         f"{fits[0]}..{fits[-1]}{skipped}"
        return False, f"claims shift_invariant, but logits change by {worst:.1e} > {SHIFT_TOL:.0e} at offset " \
                      f"{offset}{skipped}"
    if worst > MEASURABLE:
        return True, f"absolute, as claimed: logits change by {worst:.1e} > {MEASURABLE:.0e} at offset " \
                     f"{offset}{skipped}"
    return False, f"claims shift_invariant = False, but logits change by at most {worst:.1e} <= {MEASURABLE:.0e} " \
                  f"(offsets {fits[0]}..{fits[-1]}){skipped}"


@check("maximum length")
def check_max_len(name: str) -> tuple[bool, str]:
    """A declared max_len: its last position works, the next raises PositionOutOfRange; none: 2^20 is finite."""
    model = tiny_model(name)
    limit = model.encoding.max_len
    tokens = seeded_tokens()
    with torch.no_grad():
        if limit is None:
            logits = model(tokens, positions=torch.arange(tokens.shape[1]) + FAR)
            if not torch.isfinite(logits).all():
                return False, f"no max_len declared, but positions from {FAR} give non-finite logits"
            return True, f"no max_len declared; positions {FAR}..{FAR + tokens.shape[1] - 1} give finite logits"
        n = min(tokens.shape[1], limit)
        if not torch.isfinite(model(tokens[:, :n], positions=torch.arange(limit - n, limit))).all():
            return False, f"positions up to max_len - 1 = {limit - 1} give non-finite logits"
        try:
            model(tokens[:, :1], positions=torch.tensor([limit]))
        except PositionOutOfRange:
            return True, f"position {limit - 1} finite, position {limit} raises PositionOutOfRange"
        except Exception as e:  # noqa: BLE001 - the wrong error is the finding
            return False, f"position {limit} (max_len) raised {type(e).__name__}, not PositionOutOfRange: " \
                          f"{one_line(str(e))}"
    return False, f"declares max_len {limit}, but position {limit} gave logits instead of PositionOutOfRange"


@check("gradients")
def check_gradients(name: str) -> tuple[bool, str]:
    """A training step on eager and sdpa gives every encoding parameter a nonzero, finite gradient."""
    tokens = seeded_tokens(SEQ_LEN + 1)
    count = 0
    for backend in GRAD_BACKENDS:
        model = tiny_model(name, backend=backend).train()
        model.loss(tokens[:, :-1], tokens[:, 1:]).backward()
        params = {n: p for n, p in model.encoding_parameters().items() if p.requires_grad}
        count = len(params)
        for pname, p in params.items():
            if p.grad is None:
                return False, f"parameter '{pname}' gets no gradient ({backend})"
            if not torch.isfinite(p.grad).all():
                return False, f"parameter '{pname}' gets a non-finite gradient ({backend})"
            if not p.grad.abs().sum() > 0:
                return False, f"parameter '{pname}' gets an all-zero gradient ({backend})"
        bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
        if bad:
            return False, f"non-finite gradient in {', '.join(bad[:3])} ({backend})"
    if not count:
        return True, f"no encoding parameters; every gradient finite on {', '.join(GRAD_BACKENDS)}"
    return True, f"all {count} encoding parameters get nonzero, finite gradients on {', '.join(GRAD_BACKENDS)}"


@check("fast-path gradients")
def check_fast_path_gradients(name: str) -> tuple[bool, str]:
    """A training step on sdpa (a bias's fold or far/near split, where it declares one) gives
    eager's loss and gradients to 1e-4, over a length that reaches past the split's band."""
    model = tiny_model(name)
    bias = model.encoding.attention_bias(torch.float32)
    declared = getattr(bias, "far_constant", None)
    far = declared() if declared is not None else None
    n = SEQ_LEN if far is None else max(SEQ_LEN, far[0].shape[-1] + 8)
    tokens = seeded_tokens(n + 1)
    grads = {}
    for backend in ("eager", "sdpa"):
        model = tiny_model(name, sharp=True, backend=backend).train()
        try:
            model.loss(tokens[:, :-1], tokens[:, 1:]).backward()
        except PositionOutOfRange:  # a learned table shorter than the split's band: nothing to split
            return True, f"not run: {n} positions exceed the encoding's table"
        grads[backend] = {p_name: p.grad for p_name, p in model.named_parameters() if p.grad is not None}
    worst, where = max((max_diff(grads["sdpa"][p_name], g), p_name) for p_name, g in grads["eager"].items())
    if worst <= CACHE_TOL:
        return True, f"max |grad diff| sdpa vs eager {worst:.1e} <= {CACHE_TOL:.0e} (T = {n})"
    return False, f"sdpa's gradient of {where} differs from eager's by {worst:.1e} > {CACHE_TOL:.0e} (T = {n})"


@check("bfloat16")
def check_bfloat16(name: str) -> tuple[bool, str]:
    """A bfloat16 model's forward gives finite logits on every backend."""
    model = tiny_model(name).to(torch.bfloat16)
    tokens = seeded_tokens()
    with torch.no_grad():
        for backend in BACKENDS:
            model.backend = backend
            logits = model(tokens)
            if logits.dtype != torch.bfloat16:
                return False, f"logits are {logits.dtype}, not bfloat16 ({backend})"
            if not torch.isfinite(logits).all():
                return False, f"non-finite logits in bfloat16 ({backend})"
    return True, f"finite bfloat16 logits on {', '.join(BACKENDS)}"


@check("causal-only claim")
def check_causal_only(name: str) -> tuple[bool, str]:
    """causal_only: a bidirectional build raises InputError; otherwise it builds."""
    claimed = encoding_class(name).causal_only
    try:
        tiny_model(name, causal=False)
    except InputError as e:
        if claimed:
            return True, f"causal only, as claimed: bidirectional raises InputError ({one_line(str(e))})"
        return False, f"does not claim causal_only, but a bidirectional build raises InputError: {one_line(str(e))}"
    if claimed:
        return False, "claims causal_only, but a bidirectional model builds without InputError"
    return True, "not claimed; a bidirectional model builds"
