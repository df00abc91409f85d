"""Record knobs that name tensors directly: ``extra`` (and ``label_extra``) specs with shapes,
dtypes and values, nested ``fields``, and the arithmetic their shape expressions may use
(``safe_eval``: no ``eval``, so record data cannot run code)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import typing
from typing import Any

import torch

from ..errors import TinyError
from ._cfg import text_cfg, vision_cfg
from .context import Ctx

_BINOPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


class _Bad(Exception):
    """A disallowed shape expression (why); ``safe_eval`` turns it into a TinyError."""


def _ev(n, ns: dict):
    """Value of the AST node ``n``: only the arithmetic ``safe_eval`` allows."""
    if isinstance(n, ast.Expression):
        return _ev(n.body, ns)
    if (
        isinstance(n, ast.Constant)
        and isinstance(n.value, (int, str))
        and not isinstance(n.value, bool)
    ):
        return n.value
    if isinstance(n, ast.Name):
        if n.id not in ns:
            raise _Bad(f"unknown name {n.id!r}")
        return ns[n.id]
    if isinstance(n, ast.Attribute):
        if n.attr.startswith("_"):
            raise _Bad(f"private attribute {n.attr!r}")
        v = _ev(n.value, ns)
        if not (hasattr(v, "to_dict") or isinstance(v, torch.Tensor) or isinstance(v, torch.Size)):
            raise _Bad(f"attribute {n.attr!r} of a {type(v).__name__}")
        r = getattr(v, n.attr)
        if callable(r):
            raise _Bad(f"{n.attr!r} is callable")
        return r
    if isinstance(n, ast.Subscript):
        v, k = _ev(n.value, ns), _ev(n.slice, ns)
        if not isinstance(v, (dict, list, tuple, torch.Size)) or not isinstance(k, (int, str)):
            raise _Bad("subscript")
        return v[k]
    if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
        v = _ev(n.operand, ns)
        return -v if isinstance(n.op, ast.USub) else v
    if isinstance(n, ast.BinOp) and type(n.op) in _BINOPS:
        a, b = _ev(n.left, ns), _ev(n.right, ns)
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
            raise _Bad("arithmetic on a non-number")
        if isinstance(n.op, ast.Pow) and (not isinstance(b, int) or abs(b) > 8):
            raise _Bad("exponent must be a small int")
        return _BINOPS[type(n.op)](a, b)
    raise _Bad(f"{type(n).__name__} is not allowed")


def safe_eval(expr: str, ns: dict) -> Any:
    """Arithmetic over the knob namespace, without ``eval``: ints, names from ``ns``, public
    attributes (``cfg.hidden_size``), constant subscripts (``out['input_ids'].shape[-1]``) and
    ``+ - * // / **`` (small exponents). Anything else is a TinyError, so data cannot run code."""

    def bad(why: str):
        return TinyError("input-synthesis", f"shape expression {expr!r}: {why}")

    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise bad("syntax error") from e
    try:
        return _ev(tree, ns)
    except _Bad as e:
        raise bad(str(e)) from None
    except (AttributeError, KeyError, IndexError, TypeError, ZeroDivisionError) as e:
        raise bad(f"{type(e).__name__}: {e}") from e


def _values(v: Any, ns: dict) -> Any:
    """A literal ``value`` list; strings in it are expressions (``"cfg.audio_bos_token_id"``)."""
    if isinstance(v, list):
        return [_values(x, ns) for x in v]
    return safe_eval(v, ns) if isinstance(v, str) else v


def _annotated_dataclass(param: inspect.Parameter | None) -> type | None:
    """The dataclass a forward parameter is annotated with (``X`` or ``X | None``), else None."""
    if param is None:
        return None
    ann = param.annotation
    for t in (ann, *typing.get_args(ann)):
        if isinstance(t, type) and dataclasses.is_dataclass(t):
            return t
    return None


def _random(c: Ctx, spec: dict, shape: list, ns: dict) -> torch.Tensor:
    """A drawn (or constant) tensor of ``shape`` with the spec's ``dtype``."""
    dtype = spec.get("dtype", "float")
    if "fill" in spec:
        return torch.full(
            shape, spec["fill"], dtype=getattr(torch, dtype) if dtype != "float" else torch.float
        )
    if dtype in ("long", "int"):
        high = spec.get("high", 2)
        high = int(safe_eval(high, ns)) if isinstance(high, str) else int(high)
        return c.randint(int(spec.get("low", 0)), high, shape)
    if dtype == "arange":  # 0, 1, 2, ... laid out row-major: index tensors (e.g. patch pooling)
        return torch.arange(math.prod(shape), dtype=torch.long).reshape(shape)
    if dtype == "bool":
        return c.rand(shape) > 0.5
    if dtype == "rand":
        return c.rand(shape)
    if dtype == "fbox":
        t = c.rand(shape)
        return (
            torch.cat([t[..., :2] * 0.5, t[..., :2] * 0.5 + t[..., 2:4] * 0.5], -1)
            if shape[-1] == 4
            else t
        )
    if dtype == "box":
        t = c.rand(shape)
        if shape[-1] == 4:
            x0 = (t[..., 0:2] * 400).long()
            return torch.cat([x0, x0 + (t[..., 2:4] * 400).long() + 1], -1)
        return t
    return c.randn(shape)


def _extra(c: Ctx, spec: Any, out: dict, name: str | None = None) -> Any:
    """Extra tensor from a knob spec: {shape=[...], dtype=..., high=..., fill=..., value=[...]};
    {fields={...}} nests specs: a dict, or the dataclass forward() annotates ``name`` with."""
    if not isinstance(spec, dict):
        return torch.tensor(spec)
    if "fields" in spec:
        val = {k: _extra(c, s, out) for k, s in spec["fields"].items()}
        cls = _annotated_dataclass(c.sig.get(name)) if name else None
        return cls(**val) if cls is not None else val
    ns = {"B": c.B, "cfg": c.cfg, "text": text_cfg(c.cfg), "vision": vision_cfg(c.cfg), "out": out}
    if "value" in spec:
        v = _values(spec["value"], ns)
        t = torch.tensor(v)
        if spec.get("repeat_batch"):
            t = t.unsqueeze(0).repeat(c.B, *([1] * t.dim()))
        return t
    shape = [int(safe_eval(s, ns)) if isinstance(s, str) else int(s) for s in spec["shape"]]
    return _random(c, spec, shape, ns)


def add_extras(c: Ctx, out: dict, knob: str = "extra") -> None:
    """The tensors the ``extra`` (or ``label_extra``) knob names, in its order, over ``out``."""
    for name, spec in (c.k.get(knob) or {}).items():
        out[name] = _extra(c, spec, out, name)
