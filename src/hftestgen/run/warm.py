"""A warm pytest server: torch and transformers imported once, a fresh fork per run.

Importing the pinned torch + ``transformers.modeling_utils`` takes about 4.4 s on a 2-core
machine, and tearing the interpreter down again another ~1 s: most of the time of running *one*
generated file is spent there, not in its tests. ``hftestgen warm start`` starts a server that
pays that once; ``hftestgen warm pytest ARGS`` (and ``hftestgen run --warm``) send a pytest
command line to it. For each request the server forks; the child takes over the client's
stdin/stdout/stderr (passed over the Unix socket with SCM_RIGHTS), its working directory and
environment, runs ``pytest.main(ARGS)`` and exits with ``os._exit``. The parent reports the
child's exit status (a crash too) back to the client and keeps serving.

Isolation: every run is a fresh fork of a process that has only *imported* third-party modules:
no model was built, no torch op ran, no ``hftestgen`` module besides this one was imported, so
edits to the checks, templates or tiny data are picked up by the next run. The server never
serves a different interpreter or different torch/transformers versions: the socket name is
derived from ``sys.executable`` and their installed versions, so an upgrade means "no server"
(and the client falls back to a plain subprocess, saying so). It exits after ``idle`` seconds
without requests (default 30 minutes). The socket lives in a 0700 directory of the user.

Only the Python standard library is imported on the client side, so a client starts in ~50 ms.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PRELOAD = (
    "torch",
    "transformers",
    "transformers.modeling_utils",
    "safetensors.torch",
    "pytest",
)
"""Modules the server imports before it forks (third-party only: see the module docstring)."""

DEFAULT_IDLE_S = 1800.0
_HEADER = struct.Struct("!I")


class WarmError(Exception):
    """No usable server (absent, stale, or refusing); the message says what to do."""


# ------------------------------------------------------------------------------ locations


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.executable}
    for dist in ("torch", "transformers"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def socket_path() -> Path:
    """``$HFTESTGEN_WARM_SOCKET``, else a per-user, per-interpreter, per-version path."""
    env = os.environ.get("HFTESTGEN_WARM_SOCKET")
    if env:
        return Path(env)
    key = hashlib.sha256(json.dumps(_versions(), sort_keys=True).encode()).hexdigest()[:12]
    # AF_UNIX paths are limited to ~107 bytes: keep it under the temp dir, not a cache dir.
    return Path(tempfile.gettempdir()) / f"hftestgen-{os.getuid()}" / f"warm-{key}.sock"


def _private_dir(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.parent.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise WarmError(
            f"{path.parent} must be a directory only you can access (mode 0700); "
            "remove it or set HFTESTGEN_WARM_SOCKET to a path in a private directory"
        )


# ------------------------------------------------------------------------------ protocol


def _send_msg(conn: socket.socket, obj: dict[str, Any], fds: Sequence[int] = ()) -> None:
    data = json.dumps(obj).encode()
    header = _HEADER.pack(len(data))
    if fds:  # the descriptors travel with the 4-byte header; the body follows as a stream
        socket.send_fds(conn, [header], list(fds))
        conn.sendall(data)
    else:
        conn.sendall(header + data)


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def _recv_msg(conn: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
    fds: list[int] = []
    if max_fds:
        head, fds, _flags, _addr = socket.recv_fds(conn, _HEADER.size, max_fds)
        if not head:
            raise ConnectionError("connection closed")
        head += _recv_exact(conn, _HEADER.size - len(head))
    else:
        head = _recv_exact(conn, _HEADER.size)
    (n,) = _HEADER.unpack(head)
    return json.loads(_recv_exact(conn, n)), fds


# ------------------------------------------------------------------------------ server


def serve(
    path: Path | None = None, *, idle: float = DEFAULT_IDLE_S, preload: Sequence[str] = PRELOAD
) -> None:
    """Run the server in this process until ``idle`` seconds pass without a request (or SIGTERM)."""
    import importlib

    path = path or socket_path()
    _private_dir(path)
    t0 = time.monotonic()
    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional stack piece: the child imports (or skips) it itself
            pass
    if path.exists():
        if _answer(path) is not None:
            raise WarmError(f"a warm server already listens on {path}")
        path.unlink()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    os.chmod(path, 0o600)
    srv.listen(16)
    srv.settimeout(1.0)
    info = {"pid": os.getpid(), "ready_s": round(time.monotonic() - t0, 3), **_versions()}
    print(json.dumps({"event": "ready", **info}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    last = time.monotonic()
    try:
        while not stop.is_set() and time.monotonic() - last < idle:
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            last = time.monotonic()
            conn.settimeout(None)
            try:
                _handle(conn, srv, info)
            except Exception as e:  # a bad request must not take the server down
                try:
                    _send_msg(conn, {"error": f"{type(e).__name__}: {e}"})
                except OSError:
                    pass
                conn.close()
    finally:
        srv.close()
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _handle(conn: socket.socket, srv: socket.socket, info: dict[str, Any]) -> None:
    req, fds = _recv_msg(conn, max_fds=3)
    if req.get("op") == "ping":
        _send_msg(conn, {"ok": True, **info})
        conn.close()
        return
    if req.get("op") == "stop":
        _send_msg(conn, {"ok": True})
        conn.close()
        os.kill(os.getpid(), signal.SIGTERM)
        return
    if req.get("op") != "pytest" or len(fds) != 3:
        raise ValueError("expected op=pytest with stdin/stdout/stderr descriptors")
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 70
        try:
            srv.close()
            conn.close()
            for i, fd in enumerate(fds):
                os.dup2(fd, i)
                os.close(fd)
            os.chdir(req["cwd"])
            os.environ.clear()
            os.environ.update(req["env"])
            sys.argv = ["pytest", *req["args"]]
            sys.stdin = open(0, closefd=False)  # noqa: SIM115
            sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
            import pytest

            # Third-party modules the server imported (anyio, via huggingface_hub) are also
            # pytest plugins, which pytest can no longer assert-rewrite: say nothing about it.
            args = ["-W", "ignore::pytest.PytestAssertRewriteWarning", *req["args"]]
            code = int(pytest.main(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 70
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(code)
    for fd in fds:
        os.close(fd)

    def reap() -> None:
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            reply = {"returncode": -os.WTERMSIG(status), "signal": os.WTERMSIG(status)}
        else:
            reply = {"returncode": os.WEXITSTATUS(status)}
        try:
            _send_msg(conn, {"pid": pid, **reply})
        except OSError:
            pass
        conn.close()

    try:
        _send_msg(conn, {"started": pid})
    except OSError:
        pass
    threading.Thread(target=reap, daemon=True).start()


# ------------------------------------------------------------------------------ client


def _connect(path: Path, timeout: float | None = 5.0) -> socket.socket:
    if not path.exists():
        raise WarmError(
            f"no warm server (no socket at {path}); start one with `hftestgen warm start`"
        )
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
    except OSError as e:
        s.close()
        raise WarmError(
            f"the warm server at {path} does not answer ({e}); restart it with "
            "`hftestgen warm stop; hftestgen warm start`"
        ) from e
    return s


def _answer(path: Path) -> dict[str, Any] | None:
    """The server's ping reply, or None when nothing usable answers on ``path``."""
    try:
        return ping(path)
    except (WarmError, OSError, ConnectionError, ValueError):
        return None


def ping(path: Path | None = None) -> dict[str, Any]:
    s = _connect(path or socket_path())
    with s:
        _send_msg(s, {"op": "ping"})
        reply, _ = _recv_msg(s)
    return reply


def stop(path: Path | None = None) -> bool:
    """Ask the server to exit; False when none was running."""
    path = path or socket_path()
    try:
        s = _connect(path)
    except WarmError:
        return False
    with s:
        _send_msg(s, {"op": "stop"})
        _recv_msg(s)
    return True


class RemoteProcess:
    """A pytest run in the warm server, with the subset of ``subprocess.Popen`` the runner uses."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        stdin: int = 0,
        stdout: int = 1,
        stderr: int = 2,
        path: Path | None = None,
    ):
        self._sock = _connect(path or socket_path())
        self._sock.settimeout(None)
        req = {
            "op": "pytest",
            "args": list(args),
            "cwd": str(Path(cwd or os.getcwd()).resolve()),
            "env": dict(os.environ if env is None else env),
        }
        _send_msg(self._sock, req, fds=[stdin, stdout, stderr])
        reply, _ = _recv_msg(self._sock)
        if "error" in reply:
            self._sock.close()
            raise WarmError(f"the warm server refused the run: {reply['error']}")
        self.pid: int = reply["started"]
        self.returncode: int | None = None
        self.signal: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._sock.setblocking(False)
            try:
                peek = self._sock.recv(1, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                return None
            finally:
                self._sock.setblocking(True)
            if peek:
                self._finish()
            else:
                self.returncode = 70  # server went away without a status
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._sock.settimeout(timeout)
            try:
                self._finish()
            except TimeoutError as e:
                raise subprocess.TimeoutExpired("hftestgen warm pytest", timeout or 0) from e
            finally:
                if self.returncode is None:
                    self._sock.settimeout(None)
        assert self.returncode is not None
        return self.returncode

    def _finish(self) -> None:
        try:
            reply, _ = _recv_msg(self._sock)
        except ConnectionError:
            reply = {"returncode": 70}
        self._sock.close()
        self.returncode = int(reply["returncode"])
        self.signal = reply.get("signal")

    def send_signal(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass


def start(
    path: Path | None = None,
    *,
    idle: float = DEFAULT_IDLE_S,
    wait: float = 120.0,
    log: Path | None = None,
) -> dict[str, Any]:
    """Start a server in the background (a new session) and wait until it answers."""
    path = path or socket_path()
    _private_dir(path)
    info = _answer(path)
    if info is not None:
        return {"already": True, **info}
    log = log or path.with_suffix(".log")
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hftestgen.run.warm",
                "serve",
                "--socket",
                str(path),
                "--idle",
                str(idle),
            ],
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=fh,
            start_new_session=True,
            env={**os.environ, "HFTESTGEN_WARM_SOCKET": str(path)},
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise WarmError(
                f"the warm server exited with {proc.returncode} while starting; see {log}"
            )
        info = _answer(path)
        if info is not None:
            return {"already": False, **info}
        time.sleep(0.1)
    proc.terminate()
    raise WarmError(f"the warm server did not answer within {wait:.0f} s; see {log}")


def run_pytest(args: Sequence[str], path: Path | None = None) -> int:
    """Run pytest with ``args`` in the warm server, on this process's stdio; its exit status."""
    proc = RemoteProcess(args, path=path)
    # The run is a child of the server, outside this terminal's process group: pass Ctrl-C on
    # (a second one kills it).
    for sig in (signal.SIGINT, signal.SIGKILL, None):
        try:
            code = proc.wait()
            break
        except KeyboardInterrupt:
            if sig is None:
                raise
            proc.send_signal(sig)
    if proc.signal:
        print(f"hftestgen warm: the run was killed by signal {proc.signal}", file=sys.stderr)
        return 128 + proc.signal
    return code


def client_main(argv: Sequence[str]) -> int:
    """``hftestgen warm pytest ARGS...``: the lean path (standard library only)."""
    path = socket_path()
    try:
        return run_pytest(list(argv), path)
    except WarmError as e:
        print(f"hftestgen warm: {e}; running pytest in a new process instead", file=sys.stderr)
        return subprocess.call([sys.executable, "-m", "pytest", *argv])


def _main(argv: Sequence[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m hftestgen.run.warm")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--socket", type=Path, default=None)
    s.add_argument("--idle", type=float, default=DEFAULT_IDLE_S)
    sub.add_parser("pytest", add_help=False)
    ns, rest = p.parse_known_args(argv)
    if ns.cmd == "pytest":
        return client_main(rest)
    try:
        serve(ns.socket, idle=ns.idle)
    except WarmError as e:
        print(f"hftestgen warm: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
