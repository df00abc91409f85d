"""The ``hftestgen`` command line. The command names and options here are a public contract."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from . import __version__
from .errors import HftestgenError, UsageError
from .registry.families import FAMILIES

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Generate, check and run offline tests for every HuggingFace Transformers architecture.",
    pretty_exceptions_enable=False,
)
out_console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

PluginOpt = typer.Option(
    None, "--plugin", help="Module that registers custom architectures (repeatable)."
)
OverridesOpt = typer.Option(
    None, "--overrides", help="Overrides TOML file (default from pyproject)."
)


def _version_cb(value: bool) -> None:
    if value:
        out_console.print(f"hftestgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_cb, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    pass


# --------------------------------------------------------------------------------------
# helpers


def _settings():
    from .settings import load_settings

    return load_settings()


def _registry(overrides: Optional[Path], plugins: Optional[list[str]], settings=None):
    from .registry import load_registry
    from .registry.overrides import load_overrides

    settings = settings or _settings()
    ov_path = overrides if overrides is not None else settings.overrides
    if overrides is not None and not overrides.exists():
        raise UsageError(f"overrides file {str(overrides)!r} does not exist")
    ov = load_overrides(ov_path)
    reg = load_registry(ov, plugins=[*settings.plugins, *(plugins or [])])
    _warn_unsupported(reg.transformers_version)
    return reg


def _warn_unsupported(version: str) -> None:
    """Warn (stderr, once per process, never an error) when the installed Transformers is
    outside the supported range."""
    from .registry.derive import support_warning

    line = support_warning(version)
    if line and not _WARNED:
        _WARNED.append(version)
        err_console.print(line, markup=False)


_WARNED: list[str] = []


def _check_family(family: Optional[list[str]]) -> list[str]:
    fams = list(family or [])
    for f in fams:
        if f not in FAMILIES:
            import difflib

            close = difflib.get_close_matches(f, FAMILIES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"unknown family {f!r}; choose from {', '.join(FAMILIES)}.{hint}")
    return fams


def select_specs(registry, model_types, all_, families_, allow_empty=False):
    """The specs named on the command line (types, --all, --family)."""
    fams = _check_family(families_)
    if model_types and all_:
        raise UsageError("give model types or --all, not both")
    if model_types:
        specs = [registry.resolve(m) for m in model_types]
        bad = [s for s in specs if s.status not in ("testable", "skipped")]
        if bad:
            s = bad[0]
            raise UsageError(f"{s.model_type!r} is {s.status}: {s.reason}")
    elif all_ or fams:
        specs = [s for s in registry.values() if s.status in ("testable", "skipped")]
    elif allow_empty:
        specs = []
    else:
        raise UsageError("name model types, or pass --all or --family F")
    if fams:
        specs = [s for s in specs if s.family in fams]
    return specs


# --------------------------------------------------------------------------------------
# list / explain


@app.command("list")
def list_cmd(
    family: Optional[list[str]] = typer.Option(None, "--family", help="Only this family."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    overrides: Optional[Path] = OverridesOpt,
    plugin: Optional[list[str]] = PluginOpt,
) -> None:
    """List every model type of the installed Transformers with its family and status."""
    if fmt not in ("table", "json"):
        raise UsageError(f"--format must be 'table' or 'json', not {fmt!r}")
    fams = _check_family(family)
    reg = _registry(overrides, plugin)
    specs = [s for s in reg.values() if not fams or s.family in fams]
    if fmt == "json":
        out_console.print_json(
            json.dumps(
                {
                    "transformers": reg.transformers_version,
                    "types": [s.to_dict() for s in specs],
                }
            )
        )
        return
    from rich.table import Table

    t = Table(title=f"Transformers {reg.transformers_version}: {len(specs)} model types")
    for col in ("model type", "family", "status", "classes", "note"):
        t.add_column(col)
    for s in specs:
        t.add_row(
            s.model_type,
            s.family,
            s.status,
            str(len(s.all_classes())),
            s.reason if s.status != "testable" else "",
        )
    out_console.print(t)
    counts: dict[str, int] = {}
    for s in specs:
        counts[s.status] = counts.get(s.status, 0) + 1
    out_console.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


@app.command()
def explain(
    model_type: str = typer.Argument(..., help="A model type, e.g. gpt2 or donut-swin."),
    fmt: str = typer.Option("text", "--format", help="text or json."),
    overrides: Optional[Path] = OverridesOpt,
    plugin: Optional[list[str]] = PluginOpt,
) -> None:
    """Show the registry entry of one model type: family and why, classes per task, status."""
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be 'text' or 'json', not {fmt!r}")
    reg = _registry(overrides, plugin)
    s = reg.resolve(model_type)
    if fmt == "json":
        ckpt, ckpt_source = _checkpoint_of(s)
        d = {**s.to_dict(), "pretrained": {"checkpoint": ckpt, "source": ckpt_source}}
        out_console.print_json(json.dumps(d))
        return
    from .render import template_for, test_filename

    out_console.print(f"[bold]{s.model_type}[/bold]  (identifier {s.identifier})")
    out_console.print(f"  config class : {s.config_class}")
    out_console.print(f"  family       : {s.family}  ({s.family_reason})")
    out_console.print(f"  modality     : {s.modality}")
    out_console.print(f"  status       : {s.status}" + (f"  ({s.reason})" if s.reason else ""))
    out_console.print(f"  source       : {s.source}")
    if s.parents:
        out_console.print(f"  parents      : {', '.join(s.parents)}")
    ckpt, ckpt_source = _checkpoint_of(s)
    if ckpt:
        from .registry.checkpoints import SOURCE_TEXT

        out_console.print(
            f"  checkpoint   : {ckpt}  (from {SOURCE_TEXT.get(ckpt_source or '', ckpt_source)}; "
            "run --pretrained loads it from the local HF cache, never downloads)",
            markup=False,
        )
    else:
        out_console.print("  checkpoint   : none named in Transformers' docs")
    if s.overridden:
        out_console.print(f"  overridden   : {', '.join(s.overridden)}")
    if s.testable or s.status == "skipped":
        out_console.print(f"  template     : {template_for(s)}  ->  {test_filename(s)}")
    if s.classes:
        out_console.print("  classes per task:")
        for task, names in s.classes.items():
            out_console.print(f"    {task:<28} {', '.join(names)}")


def _checkpoint_of(spec: Any) -> tuple[Optional[str], Optional[str]]:
    """The type's checkpoint id and where it comes from (overrides, else Transformers' docs:
    registry/checkpoints.py)."""
    from .registry.checkpoints import resolve

    return resolve(spec.model_type, spec.checkpoint)


# --------------------------------------------------------------------------------------
# generate / check


@app.command()
def generate(
    model_types: Optional[list[str]] = typer.Argument(None, help="Model types to generate."),
    all_: bool = typer.Option(False, "--all", help="Every testable model type."),
    family: Optional[list[str]] = typer.Option(None, "--family", help="Only these families."),
    out: Optional[Path] = typer.Option(
        None, "--out", help="Output folder (default from pyproject)."
    ),
    verify: bool = typer.Option(False, "--verify", help="Run the generated tests afterwards."),
    force: bool = typer.Option(False, "--force", help="Overwrite hand-edited files."),
    overrides: Optional[Path] = OverridesOpt,
    plugin: Optional[list[str]] = PluginOpt,
) -> None:
    """Render test files from the family templates (only changed files are written)."""
    from rich.progress import Progress

    from .render.sync import generate as do_generate

    settings = _settings()
    reg = _registry(overrides, plugin, settings)
    specs = select_specs(reg, model_types, all_, family)
    out_dir = out or settings.out
    with Progress(console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task("generating", total=len(specs) + 1)
        res = do_generate(
            reg,
            out_dir,
            specs,
            force=force,
            prune=all_ and not family,
            progress=lambda: bar.advance(task),
        )
    out_console.print(
        f"{len(res.written)} written, {len(res.unchanged)} unchanged, {len(res.deleted)} "
        f"deleted in {out_dir} ({len(specs)} model types, Transformers {reg.transformers_version})"
    )
    for p in res.deleted:
        out_console.print(f"  deleted orphan {p}")
    if res.refused:
        for pr in res.refused:
            err_console.print(f"refused: {pr.path} is hand-edited; {pr.fix}")
        err_console.print(
            f"{len(res.refused)} hand-edited file(s) left untouched; pass --force to overwrite."
        )
        raise typer.Exit(1)
    if verify:
        from .run.verify import verify_files

        code = verify_files(out_dir, [s.model_type for s in specs], console=out_console)
        raise typer.Exit(code)


@app.command()
def check(
    out: Optional[Path] = typer.Option(
        None, "--out", help="Output folder (default from pyproject)."
    ),
    overrides: Optional[Path] = OverridesOpt,
    plugin: Optional[list[str]] = PluginOpt,
    hash_only: bool = typer.Option(
        False,
        "--hash-only",
        help="Only detect hand edits, from the banner hashes: imports neither Transformers nor "
        "torch (for pre-commit hooks and environments without the model stack).",
    ),
) -> None:
    """Verify generated files equal what the generator produces now. Writes nothing."""
    from .render.sync import check as do_check

    settings = _settings()
    if hash_only:
        _check_hash_only(out or settings.out, overrides, plugin)
        return
    reg = _registry(overrides, plugin, settings)
    out_dir = out or settings.out
    problems = do_check(reg, out_dir)
    if not problems:
        n = len([s for s in reg.values() if s.status in ("testable", "skipped")])
        out_console.print(f"ok: {n + 1} generated files in {out_dir} are up to date")
        return
    for p in problems:
        out_console.print(p.line())
    kinds: dict[str, int] = {}
    for p in problems:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    out_console.print(
        f"{len(problems)} problem(s): "
        + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
        + ". Fix: 'hftestgen generate --all' (hand-edited files need their change moved into "
        "a template or the overrides file, then --force)."
    )
    raise typer.Exit(1)


def _check_hash_only(out_dir: Path, overrides: Optional[Path], plugin: Optional[list[str]]) -> None:
    """``check --hash-only``: the banner hashes of the files in ``out_dir``, no registry."""
    from .render.sync import check_hashes, count_generated

    if overrides is not None or plugin:
        flag = "--overrides" if overrides is not None else "--plugin"
        raise UsageError(
            f"--hash-only reads no registry: {flag} does not apply (run 'hftestgen check' "
            "to compare with the generator)"
        )
    if not out_dir.is_dir():
        raise UsageError(f"output folder {str(out_dir)!r} does not exist")
    problems = check_hashes(out_dir)
    if not problems:
        n = count_generated(out_dir)
        out_console.print(
            f"ok: {n} generated files in {out_dir} match their banner hashes (hash-only: "
            "run 'hftestgen check' for stale, missing or orphaned files)"
        )
        return
    for p in problems:
        out_console.print(p.line())
    out_console.print(
        f"{len(problems)} hand-edited generated file(s). Fix: move the change into a template, "
        "the type's record or the overrides file, then run 'hftestgen generate' with --force."
    )
    raise typer.Exit(1)


# --------------------------------------------------------------------------------------
# commands implemented in their own modules


@app.command()
def survey(
    model_types: Optional[list[str]] = typer.Argument(None),
    all_: bool = typer.Option(False, "--all", help="Every testable model type."),
    family: Optional[list[str]] = typer.Option(None, "--family"),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    jobs: int = typer.Option(2, "--jobs", "-j", help="Parallel worker processes."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds per model type."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write JSON here."),
    overrides: Optional[Path] = OverridesOpt,
    plugin: Optional[list[str]] = PluginOpt,
) -> None:
    """Build each tiny model and run one forward pass per model class."""
    from .tiny.survey import survey_command

    if fmt not in ("table", "json"):
        raise UsageError(f"--format must be 'table' or 'json', not {fmt!r}")
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    reg = _registry(overrides, plugin)
    specs = select_specs(reg, model_types, all_, family)
    code = survey_command(
        reg,
        specs,
        fmt=fmt,
        jobs=jobs,
        timeout=timeout,
        output=output,
        console=out_console,
        plugins=[*_settings().plugins, *(plugin or [])],
    )
    raise typer.Exit(code)


# --------------------------------------------------------------------------------------
# run / report / history / diff (run/runner.py, run/merge.py, run/history.py)


HistoryOpt = typer.Option(
    None, "--history", help="History database (default: settings' history, else beside reports)."
)


def _history_for(history: Optional[Path], report: Optional[Path] = None) -> Path:
    if history is not None:
        return history
    settings = _settings()
    if settings.history is not None:
        return settings.history
    return (report or settings.report) / "history.sqlite"


@app.command()
def run(
    model_types: Optional[list[str]] = typer.Argument(None, help="Model types to run."),
    all_: bool = typer.Option(False, "--all", help="Every testable model type."),
    family: Optional[list[str]] = typer.Option(None, "--family", help="Only these families."),
    out: Optional[Path] = typer.Option(None, "--out", help="Generated tests folder."),
    workers: str = typer.Option("auto", "-n", "--workers", help="pytest-xdist workers: N or auto."),
    report: Optional[Path] = typer.Option(None, "--report", help="Report folder."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds per test."),
    shard: Optional[str] = typer.Option(None, "--shard", help="Run part K of N: K/N."),
    min_coverage: Optional[float] = typer.Option(
        None, "--min-coverage", help="Fail unless this % of the types run passed."
    ),
    history: Optional[Path] = HistoryOpt,
    warm: bool = typer.Option(
        False,
        "--warm",
        help="Run in the warm server (see 'hftestgen warm'): one process, no import cost.",
    ),
    transformers: Optional[list[str]] = typer.Option(
        None,
        "--transformers",
        help="Run under this Transformers release, in its cached environment (see "
        "'hftestgen env'); repeatable: one run each, then a combined report.",
    ),
    torch: Optional[str] = typer.Option(
        None, "--torch", help="With --transformers: the environments' torch (default: this one's)."
    ),
    against: Optional[Path] = typer.Option(
        None,
        "--against",
        help="Snapshot folder ('hftestgen snapshot'): the golden check compares with it.",
    ),
    backends: Optional[str] = typer.Option(
        None,
        "--backends",
        help="Backend-matrix columns, comma-separated: sdpa, flex_attention, bfloat16 (bf16), "
        "float16 (fp16), export, compile, onnx, cuda, mps, or a plugin's (default: "
        "[tool.hftestgen] backends, else none). Reported beside each type's status.",
    ),
    backend_plugin: Optional[list[str]] = typer.Option(
        None,
        "--backend-plugin",
        help="Module whose BACKENDS list adds backends (repeatable; entry-point group "
        "'hftestgen.backends' works too).",
    ),
    backend_classes: str = typer.Option(
        "primary",
        "--backend-classes",
        help="export / compile / onnx: 'primary' (the type's primary class) or 'all' classes.",
    ),
    matrix_only: bool = typer.Option(
        False, "--matrix-only", help="Run the backend cells only (with --backends)."
    ),
    ray: Optional[str] = typer.Option(
        None,
        "--ray",
        metavar="[ADDRESS]",
        help="Run on Ray: alone, a local cluster of -n CPUs; 'auto' or an address "
        "(ray://HOST:10001, HOST:6379) connects to a running one (default: the pyproject "
        "setting 'ray'). Needs the extra 'ray' of hftestgen.",
    ),
    pretrained: bool = typer.Option(
        False,
        "--pretrained",
        help="Run the checks on each type's real checkpoint from the local Hugging Face cache "
        "(the id Transformers' docs name, or [types.X] checkpoint in the overrides file) "
        "instead of the tiny random model; never downloads: an absent one is skipped.",
    ),
    overrides: Optional[Path] = OverridesOpt,
    plugin: Optional[list[str]] = PluginOpt,
) -> None:
    """Run the generated tests (pytest-xdist), write coverage reports and record history."""
    from .run.runner import run_command
    from .run.shards import parse_shard, parse_workers

    parse_workers(workers)
    parse_shard(shard)
    if pretrained:
        _use_pretrained()
    if against is not None:
        _use_snapshot(against)
    settings = _settings()
    _use_backends(backends, backend_plugin, backend_classes, settings, matrix_only)
    if transformers and ray is not None:
        raise UsageError("--ray runs this environment's Transformers; not with --transformers yet")
    if transformers:
        raise typer.Exit(
            _run_versions(
                transformers,
                torch,
                model_types,
                all_,
                family,
                out=out,
                workers=workers,
                report=report or settings.report,
                timeout=timeout,
                shard=shard,
                min_coverage=min_coverage,
                history=history,
                warm=warm,
                overrides=overrides,
                plugin=plugin,
            )
        )
    if torch is not None:
        raise UsageError("--torch goes with --transformers")
    ray = ray if ray is not None else settings.ray
    if ray is not None:
        from .run.ray_exec import check_address, require_ray

        check_address(ray)
        require_ray()
    reg = _registry(overrides, plugin, settings)
    specs = select_specs(reg, model_types, all_, family)
    report_dir = report or settings.report
    code = run_command(
        reg,
        specs,
        out_dir=out or settings.out,
        report_dir=report_dir,
        workers=workers,
        timeout=float(timeout if timeout is not None else settings.timeout),
        shard=shard,
        min_coverage=min_coverage,
        history=_history_for(history, report_dir),
        settings=settings,
        console=out_console,
        err_console=err_console,
        warm=warm,
        ray=ray,
    )
    raise typer.Exit(code)


def _run_versions(
    versions,
    torch,
    model_types,
    all_,
    family,
    *,
    out,
    workers,
    report,
    timeout,
    shard,
    min_coverage,
    history,
    warm,
    overrides,
    plugin,
) -> int:
    """``run --transformers V ...``: each release in its environment (run/versions.py)."""
    from .run.versions import run_versions, selection_args

    if warm:
        raise UsageError("--warm runs this interpreter's Transformers; not with --transformers")
    if out is not None:
        raise UsageError(
            "--out is not used with --transformers: each release's suite is generated into "
            "<cache>/suites/tf-<V>/"
        )
    if model_types and all_:
        raise UsageError("give model types or --all, not both")
    _check_family(family)
    if not (model_types or all_ or family):
        raise UsageError("name model types, or pass --all or --family F")
    return run_versions(
        list(versions),
        selection_args(model_types, all_, family),
        torch=torch,
        report_dir=report,
        history=_history_for(history, report),
        workers=workers,
        timeout=timeout,
        shard=shard,
        min_coverage=min_coverage,
        overrides=overrides,
        plugins=plugin,
        console=out_console,
        err_console=err_console,
    )


env_app = typer.Typer(
    help="Cached environments of other Transformers releases, for 'run --transformers V'.",
    no_args_is_help=True,
)
app.add_typer(env_app, name="env")


@env_app.command("create")
def env_create(
    transformers: str = typer.Option(..., "--transformers", help="The release, e.g. 4.57.6."),
    torch: Optional[str] = typer.Option(
        None, "--torch", help="Exact torch version (default: the running one)."
    ),
    from_venv: Optional[Path] = typer.Option(
        None,
        "--from-venv",
        help="Adopt this existing venv instead of creating one (nothing is installed in it).",
    ),
    pip_arg: Optional[list[str]] = typer.Option(
        None, "--pip-arg", help="Extra argument for pip install (repeatable), e.g. an index."
    ),
    reuse: bool = typer.Option(
        False, "--reuse", help="An existing, working environment is kept (CI): no error."
    ),
    lowest_deps: bool = typer.Option(
        False,
        "--lowest-deps",
        help="hftestgen's own dependencies at their declared floors (typer==0.13, ...).",
    ),
) -> None:
    """Create (needs the package index) or adopt the environment of a Transformers release."""
    from .run import envs

    if from_venv is not None:
        if pip_arg:
            raise UsageError("--pip-arg installs; not with --from-venv")
        if not from_venv.is_dir():
            raise UsageError(f"{str(from_venv)!r} is not a folder")
        env, existed = envs.adopt(from_venv, transformers, torch), False
    else:
        existed = reuse and envs.find_env(transformers, torch) is not None
        env = envs.create(
            transformers, torch, pip_args=list(pip_arg or []), reuse=reuse, lowest_deps=lowest_deps
        )
    out_console.print(
        f"{'reusing' if existed else env.kind} {env.name}: Transformers {env.transformers}, torch {env.torch}, Python "
        f"{env.python_version}, python {env.python}; recorded in {env.folder / envs.ENV_FILE}",
        markup=False,
    )


@env_app.command("list")
def env_list(
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """The cached environments with their resolved versions."""
    from .run import envs

    if fmt not in ("table", "json"):
        raise UsageError(f"--format must be 'table' or 'json', not {fmt!r}")
    found = envs.list_envs()
    if fmt == "json":
        out_console.print_json(json.dumps([e.to_dict() for e in found]))
        return
    if not found:
        out_console.print(f"no environments in {envs.envs_dir()}", markup=False)
        return
    for e in found:
        key = ", ".join(f"{k} {e.packages[k]}" for k in envs.KEY_PACKAGES if k in e.packages)
        mark = "" if e.python_version == envs.running_python() else "  (other Python: recreate)"
        out_console.print(
            f"{e.name}  [{e.kind}] Python {e.python_version}, {key}; venv {e.venv}{mark}",
            markup=False,
        )


@env_app.command("remove")
def env_remove(
    transformers: str = typer.Argument(..., help="The release whose environment to remove."),
    torch: Optional[str] = typer.Option(None, "--torch", help="When several torch versions."),
) -> None:
    """Remove an environment (an adopted venv itself is left as it is) and its suite."""
    from .run import envs

    for line in envs.remove(transformers, torch):
        out_console.print(line, markup=False)


def _use_backends(
    names: Optional[str],
    plugins: Optional[list[str]],
    classes: str,
    settings: Any,
    matrix_only: bool = False,
) -> None:
    """Validate the backend selection now (an unknown name is a usage error listing the known
    ones) and hand it to the pytest processes (``$HFTESTGEN_BACKENDS`` and friends)."""
    import os

    from .checks import backends as B

    if classes not in ("primary", "all"):
        raise UsageError(f"--backend-classes must be 'primary' or 'all', got {classes!r}")
    if plugins:
        os.environ[B.PLUGINS_ENV] = ",".join(plugins)
    if names is None and not settings.backends:
        names = os.environ.get(B.BACKENDS_ENV)  # set by the caller, or nothing
    chosen = B.resolve(names if names is not None else settings.backends)
    os.environ[B.BACKENDS_ENV] = ",".join(chosen)
    if classes == "all":
        os.environ[B.CLASSES_ENV] = "all"
    if matrix_only and not chosen:
        raise UsageError("--matrix-only needs backends: --backends sdpa,bfloat16,...")
    if matrix_only:
        os.environ[B.MATRIX_ONLY_ENV] = "1"
    if chosen:
        err_console.print(f"backends: {', '.join(chosen)}", markup=False)


def _use_pretrained() -> None:
    """Hand pretrained mode to the pytest processes (``$HFTESTGEN_PRETRAINED``)."""
    import os

    from .checks.pretrained import PRETRAINED_ENV
    from .registry.checkpoints import checkpoints

    os.environ[PRETRAINED_ENV] = "1"
    checkpoints()  # derived once here, so the pytest workers read the cached ids
    err_console.print("pretrained: checks load the real checkpoints from the local HF cache")


def _use_snapshot(path: Path) -> None:
    """Check the snapshot's manifest now (a newer format or no manifest: a usage error before
    anything runs) and hand it to the pytest processes (``$HFTESTGEN_SNAPSHOT``)."""
    import os

    from .snapshot import ENV, read_manifest

    snap = read_manifest(path.resolve())
    os.environ[ENV] = str(snap.root)
    err_console.print(f"golden: comparing with the {snap.describe()}", markup=False)


@app.command()
def tiny(
    model_type: str = typer.Argument(..., help="A model type, e.g. bert or llava."),
    class_name: Optional[str] = typer.Option(
        None, "--class", help="Model class (default: the type's primary class)."
    ),
    save: Path = typer.Option(..., "--save", help="New folder for the checkpoint."),
    overrides: Optional[Path] = OverridesOpt,
    plugin: Optional[list[str]] = PluginOpt,
) -> None:
    """Write a tiny random checkpoint (config + safetensors weights + synthesized
    tokenizer / processor files) that AutoModel*.from_pretrained(DIR) and pipeline(task,
    model=DIR) load offline: the model the generated suite tests."""
    from .tiny.checkpoint import save_tiny, tiny_target

    reg = _registry(overrides, plugin)
    spec, name = tiny_target(reg, model_type, class_name)
    saved = save_tiny(spec.model_type, name, save, tiny=dict(spec.tiny or {}))
    out_console.print(
        f"{saved.class_name} ({saved.parameters:,} parameters) -> {saved.path}: "
        f"{', '.join(saved.files)}",
        markup=False,
    )
    if saved.preprocessing:
        err_console.print(f"preprocessing: {', '.join(saved.preprocessing)}", markup=False)
    for kind, why in {**saved.skipped, **saved.errors}.items():
        label = "error" if kind in saved.errors else "skipped"
        err_console.print(f"preprocessing {kind} {label}: {why}", markup=False)
    if not (saved.preprocessing or saved.skipped or saved.errors):
        err_console.print("no preprocessing files written (none synthesized)", markup=False)


@app.command()
def snapshot(
    model_types: Optional[list[str]] = typer.Argument(None, help="Model types to record."),
    all_: bool = typer.Option(False, "--all", help="Every testable model type."),
    family: Optional[list[str]] = typer.Option(None, "--family", help="Only these families."),
    out: Path = typer.Option(..., "--out", help="Snapshot folder (created; types are added)."),
    cap: Optional[int] = typer.Option(
        None, "--cap", help="Per-type cap in bytes (default 896 KiB); weights over it: not stored."
    ),
    overrides: Optional[Path] = OverridesOpt,
    plugin: Optional[list[str]] = PluginOpt,
) -> None:
    """Record golden outputs: per type, the primary class's tiny weights (safetensors), the
    reference inputs and the outputs, for 'hftestgen run --against' under another release."""
    import time

    from .checks.case import Case
    from .render.files import case_fields
    from .snapshot import WEIGHTS_CAP_BYTES
    from .snapshot.record import record_snapshot, total_bytes

    cap = WEIGHTS_CAP_BYTES if cap is None else cap
    if cap < 0:
        raise UsageError("--cap must be 0 or more bytes")
    reg = _registry(overrides, plugin)
    specs = select_specs(reg, model_types, all_, family)
    cases = [Case(**case_fields(s)) for s in specs if s.status == "testable"]
    t0 = time.perf_counter()

    def progress(model_type: str, entry: dict, seconds: float) -> None:
        if entry.get("error"):
            state = "not recorded: " + entry["error"]
        else:
            (cls, rec), *_ = entry["classes"].items()
            what = "weights+outputs" if rec["weights"] else "outputs only"
            state = f"{cls} {rec['precision']} {what} {rec['bytes']:,} B"
        out_console.print(f"{model_type}: {state} ({seconds:.1f} s)", markup=False)

    manifest = record_snapshot(cases, out, cap=cap, progress=progress)
    recorded = sum(1 for t in manifest["types"].values() if not t.get("error"))
    out_console.print(
        f"{out}: {recorded}/{len(manifest['types'])} types recorded, "
        f"{total_bytes(out):,} bytes, {time.perf_counter() - t0:.1f} s",
        markup=False,
    )
    raise typer.Exit(0)


warm_app = typer.Typer(
    help="A warm pytest server: torch and transformers imported once, a fresh fork per run.",
    no_args_is_help=True,
)
app.add_typer(warm_app, name="warm")


def _warm_error(e: Exception) -> None:
    raise HftestgenError(str(e)) from e


@warm_app.command("start")
def warm_start(
    idle: float = typer.Option(1800.0, "--idle", help="Exit after this many idle seconds."),
) -> None:
    """Start the server in the background (returns once it answers)."""
    from .run import warm

    try:
        info = warm.start(idle=idle)
    except warm.WarmError as e:
        _warm_error(e)
    state = "already running" if info.get("already") else f"ready in {info['ready_s']} s"
    out_console.print(
        f"warm server pid {info['pid']} {state} (torch {info['torch']}, "
        f"transformers {info['transformers']}) on {warm.socket_path()}",
        markup=False,
    )


@warm_app.command("stop")
def warm_stop() -> None:
    """Stop the server."""
    from .run import warm

    out_console.print("stopped" if warm.stop() else "no warm server was running")


@warm_app.command("status")
def warm_status() -> None:
    """Say whether a server answers (exit 1 when none does)."""
    from .run import warm

    try:
        info = warm.ping()
    except warm.WarmError as e:
        out_console.print(str(e), markup=False)
        raise typer.Exit(1) from e
    out_console.print(json.dumps(info, indent=1))


@warm_app.command("serve")
def warm_serve(
    idle: float = typer.Option(1800.0, "--idle", help="Exit after this many idle seconds."),
) -> None:
    """Run the server in the foreground."""
    from .run import warm

    try:
        warm.serve(idle=idle)
    except warm.WarmError as e:
        _warm_error(e)


@warm_app.command(
    "pytest",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def warm_pytest(ctx: typer.Context) -> None:
    """Run pytest with these arguments in the server (fallback: a new process)."""
    from .run import warm

    raise typer.Exit(warm.client_main(ctx.args))


@app.command()
def report(
    dirs: Optional[list[Path]] = typer.Argument(
        None, help="Report folders to merge (with --merge)."
    ),
    merge: bool = typer.Option(False, "--merge", help="Merge the given report folders (shards)."),
    report_dir: Optional[Path] = typer.Option(None, "--report", help="Where to write the reports."),
    min_coverage: Optional[float] = typer.Option(None, "--min-coverage"),
    history: Optional[Path] = HistoryOpt,
    no_history: bool = typer.Option(False, "--no-history", help="Do not record the merged run."),
    overrides: Optional[Path] = OverridesOpt,
    plugin: Optional[list[str]] = PluginOpt,
) -> None:
    """Rebuild a report folder's reports, or merge shards: --merge DIR ... --report OUT."""
    from .run.merge import report_command

    if merge and not dirs:
        raise UsageError(
            "--merge needs report folders: hftestgen report --merge DIR [DIR ...] --report OUT"
        )
    if dirs and not merge:
        raise UsageError("pass --merge to merge report folders")
    settings = _settings()
    out_dir = report_dir or settings.report
    try:
        reg = _registry(overrides, plugin, settings)
    except UsageError:
        reg = None  # no transformers here: the folders' coverage.json list the types
    code = report_command(
        dirs if merge else None,
        out_dir,
        registry=reg,
        min_coverage=min_coverage,
        history=_history_for(history, out_dir),
        record=not no_history,
        console=out_console,
        err_console=err_console,
    )
    raise typer.Exit(code)


@app.command("history")
def history_cmd(
    limit: int = typer.Option(20, "--limit", help="Show the last N runs (0: all)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    history: Optional[Path] = HistoryOpt,
) -> None:
    """List recorded runs."""
    from .run.history import History

    if fmt not in ("table", "json"):
        raise UsageError(f"--format must be 'table' or 'json', not {fmt!r}")
    if limit < 0:
        raise UsageError(f"--limit must be 0 (all runs) or more, not {limit}")
    path = _history_for(history)
    runs = History(path).runs(limit or None)
    if fmt == "json":
        out_console.print_json(json.dumps(runs))
        return
    from rich.table import Table

    t = Table(title=f"{len(runs)} run(s) in {path}", box=None, pad_edge=False)
    for col in (
        "run",
        "started (UTC)",
        "transformers",
        "torch",
        "shard",
        "types p/f/s",
        "tests p/f/s",
        "cov",
        "wall",
        "exit",
    ):
        t.add_column(col, no_wrap=True)
    for r in runs:
        started = str(r["started_at"] or "")[:16].replace("T", " ")
        t.add_row(
            str(r["id"]),
            started,
            str(r["transformers"] or ""),
            str(r["torch"] or "-"),
            str(r["shard"] or "all"),
            f"{r['passed']}/{r['failed']}/{r['skipped']}",
            f"{r['tests_passed']}/{(r['tests_failed'] or 0) + (r['tests_error'] or 0)}/"
            f"{r['tests_skipped']}",
            f"{r['coverage_pct']}%",
            f"{r['wall_s'] or 0:.0f}s",
            str(r["exit_code"]),
        )
    wide = Console(file=out_console.file, width=max(out_console.width, 130), highlight=False)
    wide.print(t)


@app.command("diff")
def diff_cmd(
    run_a: Optional[str] = typer.Argument(
        None,
        metavar="A",
        help="Older run: a run id in --history, a history file (its last complete run; "
        "FILE@ID for run ID), a report folder, a coverage.json or a results.jsonl "
        "(default: the second-to-last complete run in --history).",
    ),
    run_b: Optional[str] = typer.Argument(
        None, metavar="B", help="Newer run, the same forms (default: the last run in --history)."
    ),
    fmt: str = typer.Option("text", "--format", help="text or json."),
    exit_code: bool = typer.Option(
        False, "--exit-code", help="Exit 1 when a type or a test regressed."
    ),
    history: Optional[Path] = HistoryOpt,
    transformers: Optional[list[str]] = typer.Option(
        None,
        "--transformers",
        help="Twice: compare the last complete runs of these two Transformers releases in the "
        "history (A, if given, is the history file or report folder).",
    ),
) -> None:
    """Per type and per test: what regressed, got fixed, changed, appeared or disappeared
    between two runs, and which tests kept their outcome but changed their reason text."""
    from .run.diff import diff_command

    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be 'text' or 'json', not {fmt!r}")
    if transformers:
        from .run.versions import diff_versions_command

        if len(transformers) != 2 or run_b is not None:
            raise UsageError(
                "--transformers A --transformers B, with at most one history file: "
                "hftestgen diff [HISTORY] --transformers 4.57.6 --transformers 5.24.0"
            )
        path = Path(run_a) if run_a is not None else _history_for(history)
        code = diff_versions_command(
            path,
            transformers[0],
            transformers[1],
            fmt=fmt,
            exit_code=exit_code,
            console=out_console,
        )
        raise typer.Exit(code)
    code = diff_command(
        run_a,
        run_b,
        history=lambda: _history_for(history),
        fmt=fmt,
        exit_code=exit_code,
        console=out_console,
    )
    raise typer.Exit(code)


def _click_error_line(e: Exception) -> str | None:
    """``error: <message> (see '<command> --help')`` for a click error (bad option or value),
    "" for one without a message (no command: the help was printed), None for anything else.
    Duck-typed: recent Typer raises its own copy of click's exceptions, older Typer click's."""
    if not callable(getattr(e, "format_message", None)) or not isinstance(
        getattr(e, "exit_code", None), int
    ):
        return None
    msg = " ".join(str(e.format_message()).split())
    if not msg:
        return ""
    ctx = getattr(e, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if getattr(ctx, "command_path", None) else ""
    return f"error: {msg}{hint}"


def optional_ray_value(args: list[str]) -> list[str]:
    """``--ray`` takes an optional address (the parser has no optional values): a bare
    ``--ray`` (last, or before an option or a model type) becomes ``--ray local``."""
    from .run.ray_exec import LOCAL, looks_like_address

    out: list[str] = []
    for i, a in enumerate(args):
        out.append(a)
        if a == "--" or "--" in args[:i]:
            continue
        nxt = args[i + 1] if i + 1 < len(args) else None
        if a == "--ray" and (nxt is None or not looks_like_address(nxt)):
            out.append(LOCAL)
    return out


def main() -> None:
    # no command: the help, and exit 2 whatever the parser's version returns for it (typer 0.29
    # raises a usage error, typer 0.13 under click 8.5 returns 0)
    no_command = not sys.argv[1:]
    sys.argv[1:] = optional_ray_value(sys.argv[1:])
    try:
        rc = app(standalone_mode=False)
    except HftestgenError as e:
        err_console.print(f"error: {e}", markup=False)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(2 if no_command else e.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as e:  # click usage errors: one line, exit 2
        line = _click_error_line(e)
        if line is None:
            raise
        if line:  # empty: no command given, the help was printed
            err_console.print(line, markup=False)
        sys.exit(e.exit_code)
    sys.exit(2 if no_command else rc if isinstance(rc, int) else 0)
