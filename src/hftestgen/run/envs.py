"""Cached environments for other Transformers releases: ``hftestgen env`` and
``hftestgen run --transformers VERSION``.

An environment is a folder ``<cache_dir()>/envs/tf-<V>-torch-<T>/`` holding
``hftestgen-env.json`` (what it is: Transformers and torch versions, the python it was made
with, the resolved packages). The virtual environment itself is either that folder (made by
``env create``, which is the only step that needs the package index) or a venv made elsewhere
and adopted with ``env create --from-venv PATH`` (registered, never modified or deleted).

At run time nothing installs: the environment's python runs ``hftestgen generate`` and
``hftestgen run`` with hftestgen's own source first on ``PYTHONPATH`` (the same hftestgen as the
caller's, never a copy installed there). Before that a probe (standard library only, no torch
import) checks that the environment's python is the recorded one and the running one, that
Transformers is the named release, that hftestgen resolves to this source, and that hftestgen's
core dependencies are there. Every failure is one line and exit 2.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_text
from ..errors import UsageError

ENV_FILE = "hftestgen-env.json"
ENV_SCHEMA = "hftestgen-env/1"
# Packages ``env list`` shows; hftestgen-env.json records every installed distribution.
KEY_PACKAGES = ("transformers", "torch", "tokenizers", "huggingface-hub", "safetensors", "numpy")
# Extras installed by ``env create`` (pinned as in constraints.txt where it lists them).
EXTRAS = ("pillow", "scipy", "sentencepiece", "protobuf", "einops")

# Run in the environment's python: standard library only, so it works in any venv and costs
# no torch import. ``HFTESTGEN_SRC`` is put first on sys.path as PYTHONPATH does at run time.
PROBE = r"""
import importlib.metadata as md, importlib.util as u, json, platform, sys
spec = u.find_spec("hftestgen")
pk = {}
for d in md.distributions():
    n = d.metadata["Name"]
    if n:
        pk[n.lower().replace("_", "-").replace(".", "-")] = d.version
print(json.dumps({
    "python": platform.python_version(),
    "implementation": sys.implementation.name,
    "executable": sys.executable,
    "hftestgen": spec.origin if spec else None,
    "packages": pk,
}))
"""


class EnvError(UsageError):
    """An environment is missing or cannot be used; the message is one line with the fix."""


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def public_version(v: str) -> str:
    """``2.13.0+cpu`` -> ``2.13.0`` (the folder name; the record keeps the full version)."""
    return v.split("+", 1)[0]


def envs_dir() -> Path:
    from ..registry.derive import cache_dir

    return cache_dir() / "envs"


def suite_dir(transformers: str) -> Path:
    """Where ``run --transformers V`` generates V's suite (never the project's ``generated/``)."""
    from ..registry.derive import cache_dir

    return cache_dir() / "suites" / f"tf-{transformers}"


def env_name(transformers: str, torch: str) -> str:
    return f"tf-{transformers}-torch-{public_version(torch)}"


def running_python() -> str:
    return platform.python_version()


def running_version(dist: str) -> str | None:
    from ..report.coverage import package_version

    return package_version(dist)


def src_root() -> Path:
    """The folder to put first on the environment's PYTHONPATH: the one holding this
    ``hftestgen`` package. A source checkout's ``src/`` as is; an installed hftestgen (its
    folder is a site-packages holding torch and transformers too, which must not shadow the
    environment's) through a folder with one link to the package."""
    pkg = Path(__file__).resolve().parent.parent
    parent = pkg.parent
    if not any((parent / n).exists() for n in ("transformers", "torch")):
        return parent
    link_dir = envs_dir() / "_hftestgen_src"
    link = link_dir / "hftestgen"
    if not (link.is_symlink() and link.resolve() == pkg):
        link_dir.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(pkg, target_is_directory=True)
    return link_dir


def child_environ(env: Env | None = None) -> dict[str, str]:
    """The environment variables of a process in ``env``'s python: hftestgen's source first on
    PYTHONPATH, the venv's bin first on PATH, offline (nothing is downloaded or installed)."""
    e = dict(os.environ)
    e.pop("PYTHONHOME", None)
    root = str(src_root())
    e["PYTHONPATH"] = os.pathsep.join([root, *[p for p in [e.get("PYTHONPATH")] if p]])
    if env is not None and env.kind != "native":
        e["PATH"] = os.pathsep.join([str(env.python.parent), e.get("PATH", "")])
        e["VIRTUAL_ENV"] = str(env.venv)
    if env is not None:
        e["HFTESTGEN_ENV"] = env.name
    e.setdefault("HF_HUB_OFFLINE", "1")
    e.setdefault("TRANSFORMERS_OFFLINE", "1")
    e["PIP_NO_INDEX"] = "1"
    return e


@dataclass
class Env:
    name: str
    folder: Path  # <cache>/envs/<name> (the record's folder)
    venv: Path  # the virtual environment (== folder unless adopted)
    transformers: str
    torch: str
    python_version: str
    kind: str = "created"  # created | adopted | native
    packages: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None

    @property
    def python(self) -> Path:
        if self.kind == "native":
            return Path(sys.executable)
        return self.venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": ENV_SCHEMA,
            "name": self.name,
            "transformers": self.transformers,
            "torch": self.torch,
            "python": self.python_version,
            "kind": self.kind,
            "venv": str(self.venv),
            "created_at": self.created_at,
            "packages": dict(sorted(self.packages.items())),
        }


def load_env(folder: Path) -> Env:
    p = Path(folder) / ENV_FILE
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        return Env(
            name=d["name"],
            folder=Path(folder),
            venv=Path(d["venv"]),
            transformers=d["transformers"],
            torch=d["torch"],
            python_version=d["python"],
            kind=d.get("kind", "created"),
            packages=d.get("packages") or {},
            created_at=d.get("created_at"),
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EnvError(
            f"{p} is not a readable environment record ({e}); remove the folder and create it "
            "again with 'hftestgen env create'"
        ) from None


def list_envs() -> list[Env]:
    d = envs_dir()
    if not d.is_dir():
        return []
    return [load_env(f) for f in sorted(d.iterdir()) if (f / ENV_FILE).is_file()]


def create_hint(transformers: str, torch: str | None = None) -> str:
    t = f" --torch {torch}" if torch else ""
    return f"hftestgen env create --transformers {transformers}{t}"


def find_env(transformers: str, torch: str | None = None) -> Env | None:
    """The recorded environment of ``transformers`` (and ``torch``: default, the running torch,
    else the only one recorded for that release)."""
    found = [e for e in list_envs() if e.transformers == transformers]
    if torch is not None:
        found = [e for e in found if public_version(e.torch) == public_version(torch)]
        return found[0] if found else None
    if len(found) > 1:
        mine = running_version("torch")
        same = [e for e in found if mine and public_version(e.torch) == public_version(mine)]
        if len(same) == 1:
            return same[0]
        names = ", ".join(e.name for e in found)
        raise EnvError(
            f"several environments for Transformers {transformers} ({names}); name one with --torch"
        )
    return found[0] if found else None


def resolve_env(transformers: str, torch: str | None = None) -> Env:
    """The environment ``run --transformers V`` uses: the recorded one, else the running
    interpreter when it has that release (``native``). Missing: one line naming the command."""
    env = find_env(transformers, torch)
    if env is not None:
        return env
    if running_version("transformers") == transformers and (
        torch is None or public_version(running_version("torch") or "") == public_version(torch)
    ):
        return Env(
            name=f"native-tf-{transformers}",
            folder=Path(sys.prefix),
            venv=Path(sys.prefix),
            transformers=transformers,
            torch=running_version("torch") or "",
            python_version=running_python(),
            kind="native",
        )
    raise EnvError(
        f"no environment for Transformers {transformers} in {envs_dir()}; create it first "
        f"(needs the package index): {create_hint(transformers, torch)}"
    )


def probe(python: Path) -> dict[str, Any]:
    """What the interpreter ``python`` has (``PROBE``), with this hftestgen's source first."""
    if not Path(python).exists():
        raise EnvError(f"{python} does not exist")
    try:
        p = subprocess.run(
            [str(python), "-c", PROBE],
            env=child_environ(),
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EnvError(f"{python} cannot run ({e})") from None
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["no output"])[-1]
        raise EnvError(f"{python} cannot run the environment probe ({last})")
    return json.loads(p.stdout.strip().splitlines()[-1])


def core_requirements() -> list[str]:
    """hftestgen's own dependencies (never the model stack), from its metadata or pyproject."""
    from importlib import metadata

    try:
        reqs = metadata.requires("hftestgen") or []
    except metadata.PackageNotFoundError:
        reqs = []
    if not reqs:
        pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
        try:
            import tomllib
        except ModuleNotFoundError:  # pragma: no cover - python 3.10
            import tomli as tomllib
        if pyproject.is_file():
            reqs = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [r for r in reqs if "extra ==" not in r and "extra==" not in r]


def missing_core(packages: dict[str, str]) -> list[str]:
    """The core requirements ``packages`` does not satisfy (markers evaluated here: the
    environment's python is the running one)."""
    from packaging.requirements import Requirement

    out = []
    for r in core_requirements():
        req = Requirement(r)
        if req.marker is not None and not req.marker.evaluate():
            continue
        have = packages.get(norm(req.name))
        if have is None or not req.specifier.contains(have, prereleases=True):
            out.append(str(req))
    return out


def check_probe(env: Env, info: dict[str, Any], hint: str | None = None) -> None:
    """Refuse an environment that is not what its record says, or that this hftestgen cannot
    run in (another python, another Transformers, hftestgen not resolving to this source)."""
    hint = hint or (
        f"recreate it: hftestgen env remove {env.transformers} && {create_hint(env.transformers)}"
    )
    mine = running_python()
    if env.python_version != mine or info["python"] != mine:
        raise EnvError(
            f"environment {env.name} has Python {info['python']} (recorded {env.python_version}), "
            f"this hftestgen runs Python {mine}; {hint}"
        )
    have = info["packages"].get("transformers")
    if have != env.transformers:
        raise EnvError(
            f"environment {env.name} has Transformers {have or 'not installed'}, not "
            f"{env.transformers}; {hint}"
        )
    origin = info.get("hftestgen")
    here = Path(__file__).resolve().parent.parent
    if not origin or Path(origin).resolve().parent != here:
        raise EnvError(
            f"hftestgen in environment {env.name} resolves to {origin}, not {here}; "
            "unset PYTHONPATH entries that shadow it"
        )
    lacking = missing_core(info["packages"])
    if lacking:
        raise EnvError(
            f"environment {env.name} lacks hftestgen's dependencies {', '.join(lacking)}; {hint}"
        )


def ready(env: Env) -> Env:
    """``env`` after its probe passed (raises ``EnvError`` otherwise)."""
    if env.kind != "native" and env.python_version != running_python():
        # refuse before starting anything in it
        raise EnvError(
            f"environment {env.name} was made with Python {env.python_version}, this hftestgen "
            f"runs Python {running_python()}; recreate it: hftestgen env remove "
            f"{env.transformers} && {create_hint(env.transformers)}"
        )
    check_probe(env, probe(env.python))
    return env


# --------------------------------------------------------------------------------------------
# env create / adopt / remove


def _now() -> str:
    from ..report.coverage import now_iso

    return now_iso()


def adopt(venv: Path, transformers: str, torch: str | None = None) -> Env:
    """Register an existing venv as the environment of ``transformers`` (nothing is installed,
    nothing in the venv changes)."""
    venv = Path(venv).absolute()
    probe_env = Env("adopting", venv, venv, transformers, torch or "", running_python(), "adopted")
    info = probe(probe_env.python)
    have_torch = info["packages"].get("torch")
    if have_torch is None:
        raise EnvError(f"{venv} has no torch installed")
    if torch is not None and public_version(have_torch) != public_version(torch):
        raise EnvError(f"{venv} has torch {have_torch}, not {torch}")
    env = Env(
        name=env_name(transformers, have_torch),
        folder=envs_dir() / env_name(transformers, have_torch),
        venv=venv,
        transformers=transformers,
        torch=have_torch,
        python_version=info["python"],
        kind="adopted",
        packages=info["packages"],
        created_at=_now(),
    )
    check_probe(
        env,
        info,
        hint=f"adopt a venv that has it, or make one: {create_hint(transformers, torch)}",
    )
    if env.folder.exists():
        raise EnvError(f"{env.folder} exists; 'hftestgen env remove {transformers}' first")
    env.folder.mkdir(parents=True)
    atomic_write_text(env.folder / ENV_FILE, json.dumps(env.to_dict(), indent=1) + "\n")
    return env


def _constraint_pins() -> dict[str, str]:
    """``name -> ==version`` of the extras pinned in the project's constraints.txt, if any."""
    f = Path(__file__).resolve().parents[3] / "constraints.txt"
    pins = {}
    if f.is_file():
        for line in f.read_text().splitlines():
            m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
            if m:
                pins[norm(m.group(1))] = m.group(2)
    return pins


def lowest(requirements: list[str]) -> list[str]:
    """Each requirement at its floor: ``name>=X`` becomes ``name==X`` (markers kept); one with
    no lower bound is left as it is. What a lowest-direct resolution (uv's
    ``--resolution lowest-direct``) installs for hftestgen's own dependencies."""
    from packaging.requirements import Requirement

    out = []
    for text in requirements:
        req = Requirement(text)
        floors = [s.version for s in req.specifier if s.operator == ">="]
        if len(floors) != 1:
            out.append(text)
            continue
        marker = f"; {req.marker}" if req.marker else ""
        out.append(
            f"{req.name}{''.join(f'[{e}]' for e in sorted(req.extras))}=={floors[0]}{marker}"
        )
    return out


def _off_floor(packages: dict[str, str]) -> list[str]:
    """The installed packages (``name version``) that are not at hftestgen's declared floors."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    have = {canonicalize_name(k): v for k, v in packages.items()}
    off = []
    for text in lowest(core_requirements()):
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        want = next((s.version for s in req.specifier if s.operator == "=="), None)
        got = have.get(canonicalize_name(req.name))
        if want is not None and (got is None or Version(got) != Version(want)):
            off.append(f"{req.name} {got or 'absent'}")
    return off


def create_commands(
    folder: Path,
    transformers: str,
    torch: str,
    pip_args: list[str] | None = None,
    lowest_deps: bool = False,
) -> list[list[str]]:
    """The commands ``env create`` runs: a venv of the running interpreter, then torch (named
    exactly: an open range downloads a multi-GB CUDA build) with Transformers, then hftestgen's
    core dependencies (at their declared floors with ``lowest_deps``) and the extras (never
    hftestgen itself: its source is put on PYTHONPATH)."""
    py = str(Path(folder) / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check", *(pip_args or [])]
    pins = _constraint_pins()
    extras = [f"{e}=={pins[e]}" if e in pins else e for e in EXTRAS]
    core = lowest(core_requirements()) if lowest_deps else core_requirements()
    return [
        [sys.executable, "-m", "venv", str(folder)],
        [*pip, f"torch=={torch}", f"transformers=={transformers}"],
        [*pip, f"torch=={torch}", *core, *extras],
    ]


def create(
    transformers: str,
    torch: str | None = None,
    *,
    pip_args: list[str] | None = None,
    runner=subprocess.run,
    reuse: bool = False,
    lowest_deps: bool = False,
) -> Env:
    """Make and record the environment (the only step that needs the package index). With
    ``reuse``, an existing environment that passes the run-time probe is returned as it is."""
    torch = torch or running_version("torch")
    if not torch:
        raise EnvError("no torch is installed here; name one: --torch VERSION")
    name = env_name(transformers, torch)
    folder = envs_dir() / name
    if (folder / ENV_FILE).is_file():
        if reuse:
            existing = find_env(transformers, torch)
            if existing is not None:
                info = probe(existing.python)
                check_probe(existing, info)
                off = _off_floor(info["packages"]) if lowest_deps else []
                if not off:
                    return existing
                raise EnvError(
                    f"{folder} has {', '.join(off)}, not the floors --lowest-deps asks for; "
                    f"'hftestgen env remove {transformers}' first"
                )
        raise EnvError(f"{folder} exists; 'hftestgen env remove {transformers}' first")
    if folder.exists():  # a half-made environment from an interrupted create
        shutil.rmtree(folder)
    for cmd in create_commands(folder, transformers, torch, pip_args, lowest_deps):
        p = runner(cmd)
        if p.returncode != 0:
            raise EnvError(
                f"'{' '.join(cmd[:4])} ...' failed (exit {p.returncode}); {folder} is left "
                "half-made and is replaced by the next 'env create'"
            )
    env = Env(name, folder, folder, transformers, torch, running_python(), "created")
    info = probe(env.python)
    env.packages = info["packages"]
    env.torch = info["packages"].get("torch", torch)
    env.created_at = _now()
    check_probe(env, info)
    atomic_write_text(folder / ENV_FILE, json.dumps(env.to_dict(), indent=1) + "\n")
    return env


def remove(transformers: str, torch: str | None = None) -> list[str]:
    """Remove the environment of ``transformers``: a created one with its venv, an adopted one's
    record only (the venv it names is left as it is), and that release's generated suite."""
    env = find_env(transformers, torch)
    if env is None:
        raise EnvError(f"no environment for Transformers {transformers} in {envs_dir()}")
    lines = []
    shutil.rmtree(env.folder)
    lines.append(
        f"removed {env.folder}"
        + (f" (the adopted venv {env.venv} is left as it is)" if env.kind == "adopted" else "")
    )
    suite = suite_dir(transformers)
    if suite.is_dir() and not any(e.transformers == transformers for e in list_envs()):
        shutil.rmtree(suite)
        lines.append(f"removed {suite}")
    return lines
