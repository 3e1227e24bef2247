"""Small result tables for the figure tests, shared by tests/figures/test_figures_*.py (not a test module).

The columns come from the suites' schemas, so a table a suite changes is drawn as written.
"""

from __future__ import annotations

import math

import pandas as pd

from pe_bench.suites import all_schemas

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: table name -> its columns, as the suites declare them
COLUMNS: dict[str, tuple[str, ...]] = {name: schema.column_names for name, schema in all_schemas().items()}
RUN = {"device": "cpu (x86_64)", "dtype": "float32", "threads": 2, "torch_version": "2.13.0+cpu", "preset": "tiny"}


def table(name: str, rows: list[dict]) -> pd.DataFrame:
    """Rows with every column of table ``name``: the run's settings where a row does not say, else empty."""
    columns = COLUMNS[name]
    full = [{c: row.get(c, RUN.get(c, "")) for c in columns} for row in rows]
    return pd.DataFrame(full, columns=list(columns))


def speed_rows(supported: bool = True) -> list[dict]:
    """NoPE, RoPE and ALiBi at two lengths, two modes and two backends (flex always the slower)."""
    rows = []
    for encoding, ratio in (("nope", 1.0), ("rope", 1.2), ("alibi", 1.1)):
        for mode in ("inference", "train"):
            for seq_len in (64, 128):
                for backend, ms in (("sdpa", 2.0), ("flex", 3.0)):
                    rows.append({"encoding": encoding, "backend": backend, "mode": mode, "seq_len": seq_len,
                                 "batch_size": 2, "ms_median": ms * ratio, "ratio_vs_nope": ratio,
                                 "supported": supported})
    return rows


def task_rows() -> list[dict]:
    """RoPE plain and randomized (learned), ALiBi (not learned) on passkey (three depths) and copy."""
    out = []
    for variant, encoding, learned in (("rope", "rope", True), ("rope+rand", "rope", True), ("alibi", "alibi", False)):
        for task, depths in (("passkey", ("start", "middle", "end")), ("copy", ("",))):
            for factor in (1, 2, 4):
                for depth in depths:
                    out.append({"encoding": encoding, "variant": variant, "task": task, "train_len": 16,
                                "eval_len": 16 * factor, "depth": depth, "accuracy": 1.0 / factor,
                                "learned": learned, "supported": True, "seed": 0})
    return out


def flipflop_rows() -> list[dict]:
    """rope learned the training mix (errors 0 at L, then 0.1, 0.3); alibi did not."""
    accuracy = {("train", 16): 1.0, ("train", 32): 0.9, ("train", 64): 0.7, ("sparse", 16): 0.8, ("sparse", 32): 0.6,
                ("sparse", 64): 0.5, ("dense", 16): 0.95, ("dense", 32): 0.9, ("dense", 64): 0.8}
    base = task_rows()[0]
    return [dict(base, encoding=name, variant=name, task="flipflop", depth=mix, eval_len=n, learned=name == "rope",
                 accuracy=a - (0.2 if name == "alibi" else 0)) for name in ("rope", "alibi")
            for (mix, n), a in accuracy.items()]


def attention_rows() -> tuple[list[dict], list[dict]]:
    """RoPE and ALiBi (2 layers, 2 heads) at L = 16 and 8L; ALiBi stays local. And each one's map at both."""
    common = {"train_len": 16, "steps": 10, "seed": 0, "supported": True, "variant": ""}
    rows, maps = [], []
    for encoding, spread in (("rope", 1.0), ("alibi", 0.3)):
        for n in (16, 128):
            far = n > 16
            values = {"entropy_mean": 2.0 + spread * far, "log_keys": 2.5 + 2 * far, "sink_first": 0.05,
                      "sink_first4": 0.15, "max_weight": 0.5 - 0.3 * spread * far, "within_L": 1 - 0.5 * spread * far}
            if far:
                values["logit_std_unseen"] = 2 + 10 * (1 - spread)
            for layer in (0, 1):
                for head in (0, 1):
                    base = dict(common, encoding=encoding, variant=encoding, layer=layer, head=head, eval_len=n)
                    rows += [dict(base, metric=m, value=v) for m, v in values.items()]
                    rows += [dict(base, metric="distance_mass", distance=d, value=0.25) for d in (0, 1, 2, 4)]
            maps += [dict(common, encoding=encoding, variant=encoding, layer=1, head=0, eval_len=n, row=i, col=j,
                          grid=2, value=0.5 if i >= j else 0.0) for i in (0, 1) for j in (0, 1)]
    return rows, maps


def tables() -> dict[str, pd.DataFrame]:
    """Small versions of the tables a run writes."""
    kvcache = [{"encoding": e, "backend": b, "policy": "full", "positions": "original", "window": 0, "sinks": 0,
                "context_len": n, "cached_ms_per_token": 1.0 + n / 1000, "uncached_ms_per_token": n / 10,
                "supported": True}
               for e in ("rope", "nope") for b in ("sdpa", "eager") for n in (64, 128)]
    shift = [{"encoding": e, "backend": "sdpa", "offset": c, "seq_len": 16, "max_abs_logit_diff": d * c,
              "supported": True}
             for e, d in (("rope", 0.0), ("sinusoidal", 0.1)) for c in (1, 10)]
    shift.append({"encoding": "learned", "backend": "sdpa", "offset": 10, "seq_len": 16, "max_abs_logit_diff": "",
                  "supported": False, "note": "no such position"})
    precision = [{"encoding": e, "position": p, "dtype": dt, "quantity": q, "abs_error": err, "rel_error": err,
                  "device": "cpu"}
                 for e, q in (("rope", "qk"), ("sinusoidal", "table_angles_in_dtype"))
                 for dt in ("float32", "float16")
                 for p, err in ((8, 1e-7), (1024, 1e-4), (65536, math.nan if dt == "float16" else 1e-2))]
    extrapolation = [{"encoding": v.split("-")[0], "variant": v, "task": "lm", "train_len": 16, "eval_len": n,
                      "eval_mode": mode, "stride": 16 if mode == "sliding" else 0, "metric": "ppl",
                      "value": 5.0 + n / 16, "steps": 10, "seed": 0, "supported": True}
                     for v in ("rope", "rope-pi", "alibi") for mode in ("nonoverlap", "sliding") for n in (16, 32)]
    extrapolation += [{"encoding": "learned", "variant": "learned", "task": "lm", "train_len": 16, "eval_len": n,
                       "eval_mode": "nonoverlap", "stride": 0, "metric": "ppl", "value": 6.0 if n == 16 else "",
                       "steps": 10, "seed": 0, "supported": n == 16} for n in (16, 32)]
    extrapolation += [{"encoding": e, "variant": e, "task": "stream", "train_len": 16, "eval_len": 64,
                       "eval_mode": mode, "stride": 0, "metric": "ppl", "value": "" if e == "learned" else 4.0,
                       "steps": 10, "seed": 0, "supported": e != "learned"}
                      for e in ("rope", "learned") for mode in ("full", "window-slot", "sinks-original")]
    training = [{"encoding": e, "step": s, "loss": 5.0 - s / 10, "tokens_per_s": 1000.0, "train_len": 16,
                 "steps": 20, "seed": 0} for e in ("rope", "nope") for s in (10, 20)]
    rows = {"speed": speed_rows(), "kvcache": kvcache, "shift": shift, "precision": precision,
            "extrapolation": extrapolation, "training": training, "tasks": task_rows() + flipflop_rows()}
    rows["attention"], rows["attention_maps"] = attention_rows()
    return {name: table(name, rows[name]) for name in COLUMNS}

