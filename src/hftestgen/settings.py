"""Project settings from ``[tool.hftestgen]`` in the nearest ``pyproject.toml``.

Keys (all optional; paths are relative to the pyproject's folder)::

    [tool.hftestgen]
    out = "generated"                        # where generated tests live
    overrides = "hftestgen-overrides.toml"   # the user's overrides file
    plugins = ["my_pkg.hf_plugin"]           # modules that register custom architectures
    report = "reports"                       # where 'hftestgen run' writes reports
    history = "reports/history.sqlite"       # run history database
    timeout = 120                            # per-test time limit, seconds
    snapshots = "snapshots/5.24"             # golden outputs the 'golden' check compares with
    backends = ["sdpa", "bfloat16"]          # backend-matrix columns 'hftestgen run' adds
    ray = "local"                            # run on Ray: "local" (start one), "auto", ADDRESS
"""

from __future__ import annotations

import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KEYS = {
    "out": str,
    "overrides": str,
    "plugins": list,
    "report": str,
    "history": str,
    "timeout": int,
    "snapshots": str,
    "backends": list,
    "ray": str,
}


@dataclass
class Settings:
    root: Path
    out: Path
    overrides: Path
    plugins: list[str] = field(default_factory=list)
    report: Path = Path("reports")
    history: Path | None = None
    timeout: int = 120
    pyproject: Path | None = None
    snapshots: Path | None = None
    backends: list[str] = field(default_factory=list)
    ray: str | None = None

    @property
    def history_path(self) -> Path:
        return self.history if self.history is not None else self.report / "history.sqlite"


def find_pyproject(start: Path) -> Path | None:
    for d in [start, *start.parents]:
        p = d / "pyproject.toml"
        if p.is_file():
            return p
    return None


def load_settings(start: Path | None = None) -> Settings:
    start = (start or Path.cwd()).resolve()
    pp = find_pyproject(start)
    root = pp.parent if pp else start
    tbl: dict = {}
    if pp is not None:
        try:
            data = tomllib.loads(pp.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{pp}: not valid TOML: {e}") from None
        tbl = data.get("tool", {}).get("hftestgen", {})
        for k, v in tbl.items():
            if k not in KEYS:
                close = difflib.get_close_matches(k, list(KEYS), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"{pp}: [tool.hftestgen] unknown key {k!r} (allowed: "
                    f"{', '.join(sorted(KEYS))}){hint}"
                )
            if not isinstance(v, KEYS[k]) or isinstance(v, bool):
                raise ConfigError(
                    f"{pp}: [tool.hftestgen] {k} must be a {KEYS[k].__name__}, got {v!r}"
                )
        for p in tbl.get("plugins", []):
            if not isinstance(p, str):
                raise ConfigError(
                    f"{pp}: [tool.hftestgen] plugins must be a list of module names, got {p!r}"
                )
        for b in tbl.get("backends", []):
            if not isinstance(b, str):
                raise ConfigError(
                    f"{pp}: [tool.hftestgen] backends must be a list of backend names, got {b!r}"
                )
    report = root / tbl.get("report", "reports")
    return Settings(
        root=root,
        out=root / tbl.get("out", "generated"),
        overrides=root / tbl.get("overrides", "hftestgen-overrides.toml"),
        plugins=list(tbl.get("plugins", [])),
        report=report,
        history=(root / tbl["history"]) if "history" in tbl else None,
        timeout=int(tbl.get("timeout", 120)),
        pyproject=pp,
        snapshots=(root / tbl["snapshots"]).resolve() if "snapshots" in tbl else None,
        backends=list(tbl.get("backends", [])),
        ray=tbl.get("ray"),
    )
