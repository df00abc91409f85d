"""Time-series inputs: past values (context plus the largest lag) with their time features and
observed mask, static features, and future values/time features."""

from __future__ import annotations

import torch

from ._cfg import _int, find_attr
from .context import Ctx, _required


def _past_len(c: Ctx) -> int:
    ctx = _int(find_attr(c.cfg, ["context_length", "context_len"]), 16)
    lags = getattr(c.cfg, "lags_sequence", None)
    L = ctx + (max(lags) if isinstance(lags, (list, tuple)) and lags else 0)
    return int(c.k.get("past_len", L))


def _static_features(c: Ctx) -> dict:
    cfg, out = c.cfg, {}
    nsc = _int(getattr(cfg, "num_static_categorical_features", None), 0)
    if "static_categorical_features" in c.sig and nsc:
        card = getattr(cfg, "cardinality", None) or [2] * nsc
        out["static_categorical_features"] = torch.stack(
            [c.randint(0, card[i], [c.B]) for i in range(nsc)], dim=1
        )
    nsr = _int(getattr(cfg, "num_static_real_features", None), 0)
    if "static_real_features" in c.sig and nsr:
        out["static_real_features"] = c.randn([c.B, nsr])
    return out


def time_series_inputs(c: Ctx, labels: bool) -> dict:
    cfg, sig = c.cfg, c.sig
    L = _past_len(c)
    chans = _int(find_attr(cfg, ["num_input_channels", "input_size"]), 1)
    pred = _int(find_attr(cfg, ["prediction_length", "horizon_length"]), 4)
    multi = "num_input_channels" in vars(cfg) or chans > 1
    shp = [c.B, L, chans] if multi else [c.B, L]
    out = {"past_values": c.randn(shp)}
    ntf = _int(getattr(cfg, "num_time_features", None), 0)
    if "past_time_features" in sig:
        out["past_time_features"] = c.randn([c.B, L, max(ntf, 1)])
    if "past_observed_mask" in sig:
        out["past_observed_mask"] = torch.ones(shp)
    out.update(_static_features(c))
    if "future_values" in sig and (
        c.b.family == "time-series" and getattr(cfg, "is_encoder_decoder", False) or labels
    ):
        out["future_values"] = c.randn([c.B, pred, chans] if multi else [c.B, pred])
    if "future_time_features" in sig and "past_time_features" in out:
        out["future_time_features"] = c.randn([c.B, pred, max(ntf, 1)])
    for name in sig:  # other required past_* inputs: zeros like past_values
        if name.startswith("past_") and name not in out and _required(sig, name):
            out[name] = torch.zeros_like(out["past_values"])
    if "freq" in sig and _required(sig, "freq"):
        out["freq"] = torch.zeros(c.B, 1, dtype=torch.long)
    return out
