"""A catalogue of plausible Transformers regressions, injected to prove the generated tests catch them.

Each fault is a small function that monkeypatches Transformers or torch code (a general code path
such as ``transformers.masking_utils`` or ``torch.nn.BatchNorm2d``, or one model module's
attention/forward) so that one real class of bug appears in the tiny models the generated suite
builds. Its record says which model type it targets, which check is named for its class (the one
that must catch it) and which real bug class it models.

Faults are switched on for a whole pytest session by an environment variable, read by the pytest
plugin the generated suite loads (``hftestgen.run.pytest_plugin``), in every process that runs
tests (xdist workers and the warm server's forks included)::

    HFTESTGEN_FAULT=bert-attention-mask-dropped python -m pytest generated/test_hf_bert.py
    HFTESTGEN_FAULT=gpt2-kv-cache-corrupted hftestgen run gpt2

A fault is *caught* when that run fails in the test of the fault's ``check`` (a collection error,
a tiny model that no longer builds, or a failure only in another check is not a catch);
``hftestgen.faults.measure`` decides that, ``benchmarks/bench_faults.py`` measures the catalogue.

Importing this package (and listing the catalogue) imports neither torch nor Transformers: every
fault imports what it patches when it is activated.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..checks.table import CHECKS as _TABLE_CHECKS

#: the environment variable naming the fault a pytest session runs with
ENV = "HFTESTGEN_FAULT"

#: checks the generated files run today: the one check table (``hftestgen.checks.table``)
CHECKS: tuple[str, ...] = _TABLE_CHECKS
#: checks an issue asks for that are not written yet; a fault expected to be caught by one of
#: them is measured as missed ("check not in file") until the check exists. (The four model
#: invariants this list held are in the table now.)
PLANNED_CHECKS: tuple[str, ...] = ()

FAMILIES = (
    "encoder-only",
    "decoder-only",
    "encoder-decoder",
    "vision",
    "multimodal",
    "audio",
    "time-series",
    "other",
)

# one module per family; each registers its faults with @fault on import
_MODULES = (
    "encoder_only",
    "decoder_only",
    "encoder_decoder",
    "vision",
    "multimodal",
    "audio",
    "time_series",
    "other",
    "backends",
    "preprocessing",
)


@dataclass(frozen=True)
class Fault:
    """One injectable regression."""

    #: unique, kebab-case, starting with (a short form of) the model type
    #: (``bert-attention-mask-dropped``)
    name: str
    #: the model type whose generated file must catch it (``generated/test_hf_<type>.py``)
    model_type: str
    #: the family of that type (every family of ``FAMILIES`` has faults)
    family: str
    #: the check named for the fault's class: the one expected to catch it
    check: str
    #: what the injected code does (the first line of the fault function's docstring)
    description: str
    #: the real class of bug it models, with a public reference where one is known
    bug_class: str
    #: installs the fault through a ``Patcher``
    inject: Callable[[Patcher], None]
    #: part of the small, fast subset CI runs (``bench_faults.py --subset``)
    subset: bool = False
    #: a backend fault (check ``backend``): the matrix columns whose cells of the type must flip
    #: (no other column of ``measure.PROBE_BACKENDS`` may, and eager float32 must still pass)
    backends: tuple[str, ...] = ()


class UnknownFault(ValueError):
    """A fault name that is not in the catalogue (a usage error: one line naming the valid ones)."""


_FAULTS: dict[str, Fault] = {}
_LOADED = False


def fault(
    *,
    model_type: str,
    family: str,
    check: str,
    bug_class: str,
    subset: bool = False,
    backends: tuple[str, ...] = (),
) -> Callable[[Callable[[Patcher], None]], Callable[[Patcher], None]]:
    """Register the decorated function as a fault named after it (``_`` -> ``-``)."""

    def register(fn: Callable[[Patcher], None]) -> Callable[[Patcher], None]:
        name = fn.__name__.replace("_", "-")
        if name in _FAULTS:
            raise ValueError(f"fault {name!r} registered twice")
        if check not in CHECKS + PLANNED_CHECKS:
            raise ValueError(f"fault {name!r}: unknown check {check!r}")
        if (check == "backend") != bool(backends):
            raise ValueError(f"fault {name!r}: check 'backend' goes with backends=(...)")
        if family not in FAMILIES:
            raise ValueError(f"fault {name!r}: unknown family {family!r}")
        doc = (fn.__doc__ or "").strip().splitlines()
        if not doc or not bug_class:
            raise ValueError(f"fault {name!r} needs a docstring and a bug_class")
        _FAULTS[name] = Fault(
            name=name,
            model_type=model_type,
            family=family,
            check=check,
            description=doc[0].strip(),
            bug_class=bug_class,
            inject=fn,
            subset=subset,
            backends=tuple(backends),
        )
        return fn

    return register


def catalogue() -> dict[str, Fault]:
    """Every fault, by name, in registration order (family by family)."""
    global _LOADED
    if not _LOADED:
        for mod in _MODULES:
            importlib.import_module(f"{__name__}.{mod}")
        _LOADED = True
    return dict(_FAULTS)


def subset() -> list[Fault]:
    """The CI subset: caught today, every family and every check that runs
    on CPU."""
    return [f for f in catalogue().values() if f.subset]


def get(name: str) -> Fault:
    faults = catalogue()
    if name not in faults:
        raise UnknownFault(
            f"{ENV}={name!r} is not a fault of the catalogue; valid names: {', '.join(faults)}"
        )
    return faults[name]


# ---------------------------------------------------------------------------------------------
# activation


_MISSING = object()


class Patcher:
    """Records attribute replacements so they can be undone (in reverse order)."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def setattr(self, owner: Any, name: str, value: Any) -> None:
        # on a class, restore what the class itself held (an inherited attribute is deleted again)
        old = (
            owner.__dict__.get(name, _MISSING)
            if isinstance(owner, type)
            else getattr(owner, name, _MISSING)
        )
        setattr(owner, name, value)
        self._undo.append((owner, name, old))

    def wrap(self, owner: Any, name: str, make: Callable[[Callable], Callable]) -> None:
        """Replace ``owner.name`` with ``make(original)``, keeping the original's name, docstring
        and signature (``functools.wraps``, as Transformers' own decorators do: the checks read
        ``forward``'s signature)."""
        orig = getattr(owner, name)
        self.setattr(owner, name, functools.wraps(orig)(make(orig)))

    def wrap_kwargs(
        self, owner: Any, name: str, edit: Callable[[Any, dict[str, Any]], None]
    ) -> None:
        """Wrap the method ``owner.name`` so that ``edit(self, kwargs)`` may change its arguments
        (positional ones are passed on by name) before the original runs."""
        params = [
            p.name
            for p in list(inspect.signature(getattr(owner, name)).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]

        def make(orig: Callable) -> Callable:
            def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                if len(args) > len(params):
                    raise TypeError(f"{name}: too many positional arguments for a fault wrapper")
                kwargs.update(zip(params, args, strict=False))
                edit(self, kwargs)
                return orig(self, **kwargs)

            return method

        self.wrap(owner, name, make)

    def override_args(self, owner: Any, name: str, **values: Callable[[Any, Any], Any]) -> None:
        """Wrap the method ``owner.name`` so that each named argument is replaced by
        ``fn(self, value)`` (``value`` is None when the caller did not pass it)."""

        def edit(obj: Any, kwargs: dict[str, Any]) -> None:
            for arg, fn in values.items():
                kwargs[arg] = fn(obj, kwargs.get(arg))

        self.wrap_kwargs(owner, name, edit)

    def undo(self) -> None:
        while self._undo:
            owner, name, old = self._undo.pop()
            if old is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, old)


_ACTIVE: dict[str, Patcher] = {}


def activate(name: str) -> Fault:
    """Install fault ``name`` in this process (idempotent). Raises ``UnknownFault``."""
    f = get(name)
    if name not in _ACTIVE:
        patcher = Patcher()
        try:
            f.inject(patcher)
        except BaseException:
            patcher.undo()
            raise
        _ACTIVE[name] = patcher
    return f


def deactivate(name: str | None = None) -> None:
    """Undo fault ``name`` (every active fault when None)."""
    for n in [name] if name else list(_ACTIVE):
        patcher = _ACTIVE.pop(n, None)
        if patcher is not None:
            patcher.undo()


def active() -> list[str]:
    return list(_ACTIVE)
