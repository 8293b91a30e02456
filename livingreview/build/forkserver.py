"""Notebook kernels that start in a fraction of a second: fork them from a process that has done the imports.

Every notebook of the book runs in its own fresh IPython kernel (one kernel start per notebook, no state shared
between notebooks), but a plain kernel start costs a new Python process, ``import ipykernel`` and then, in the
notebook's first cell, the import of its page module (numpy, scipy, pandas, matplotlib) — seconds per notebook.
Here those imports are paid once per build:

* ``ForkServer`` (used by :mod:`livingreview.build.execute`) starts ``python forkserver.py serve SOCKET
  MODULE...``: a process that imports ipykernel and the modules the templates import, **executes nothing
  else** (no data is read, no figure drawn), and then waits on a Unix socket.
* The kernel manager (``kernel_manager_class``) launches, instead of ``python -m ipykernel_launcher -f FILE``,
  ``python -I -S forkserver.py relay SOCKET LOG -- python -m ipykernel_launcher -f FILE``: a stdlib-only relay
  that asks the server to fork. The forked child takes the relay's environment, working directory and standard
  input, writes its console output to LOG, starts a new session and runs exactly what ``ipykernel_launcher``
  runs. The relay stands in for the kernel process towards jupyter_client: it forwards signals (interrupt,
  terminate) to the kernel and exits with the kernel's exit status; if the relay is killed, the server kills
  the kernel. If the server is not available the relay simply ``exec``s the plain command.
* Kernels talk to the client over IPC sockets (``transport = "ipc"``), not TCP, so ipykernel has nothing to
  warn about, and whatever a kernel prints on its own console (not the notebook's outputs, which arrive as
  messages) goes to LOG, which the build shows only when something failed.
* The server is started with the build's kernel environment (this checkout first on ``PYTHONPATH``), so forked
  kernels import exactly what plain kernels import.

The relay is run with ``-I -S`` by file path, so this module imports only the standard library at the top.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

LAUNCHER = "ipykernel_launcher"
_HEADER = struct.Struct("!I")
#: What ipykernel sets for a kernel when MPLBACKEND is unset; set before matplotlib is imported in the server.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


# --- framing -------------------------------------------------------------------------------------------------


def _send(sock: socket.socket, obj, fds=()) -> None:
    data = json.dumps(obj).encode()
    payload = _HEADER.pack(len(data)) + data
    if fds:
        socket.send_fds(sock, [payload], list(fds))
    else:
        sock.sendall(payload)


def _recv_exact(sock: socket.socket, n: int, first: bytes = b"") -> bytes:
    buf = first
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def _recv(sock: socket.socket, with_fds: int = 0):
    if with_fds:
        data, fds, _, _ = socket.recv_fds(sock, 1 << 16, with_fds)
        if not data:
            raise EOFError("connection closed")
        head = _recv_exact(sock, _HEADER.size, data[:_HEADER.size]) if len(data) < _HEADER.size else data[:_HEADER.size]
        (n,) = _HEADER.unpack(head)
        body = _recv_exact(sock, n, data[_HEADER.size:])
        return json.loads(body), fds
    (n,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    return json.loads(_recv_exact(sock, n))


# --- the server ----------------------------------------------------------------------------------------------


def _is_ipykernel(argv) -> bool:
    return len(argv) >= 3 and argv[1:3] == ["-m", LAUNCHER]


def _child(request: dict, fds: list[int], closing: list) -> None:
    """In the forked child: become the kernel that ``python -m ipykernel_launcher ARGS`` would have started."""
    code = 1
    try:
        for s in closing:
            s.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()  # like jupyter_client's launcher: the kernel leads its own process group
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = [LAUNCHER] + list(request["argv"][3:])
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 — report anything, then leave without running the server's handlers
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(path: str, modules: list[str]) -> None:
    """Import ``modules``, then fork a kernel for every relay that connects to the Unix socket ``path``.

    Stops (and kills any kernel still running) when its standard input closes, i.e. when the build ends."""
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    # debugpy (imported by ipykernel.debugger) warns on stderr at import about frozen modules; kernels never debug.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    failed = []
    for name in modules:
        try:
            __import__(name)
        except Exception as exc:  # noqa: BLE001 — a module that cannot be pre-imported is imported by the notebook
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    import threading

    if threading.active_count() != 1:  # forking a process with threads is not safe: refuse, the build falls back
        print(json.dumps({"ready": False, "error": f"{threading.active_count()} threads after imports"}), flush=True)
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    children: dict[int, socket.socket] = {}
    conns: set[socket.socket] = set()
    print(json.dumps({"ready": True, "pid": os.getpid(), "failed": failed}), flush=True)
    stdin = sys.stdin.fileno()
    try:
        while True:
            readable, _, _ = select.select([listener, stdin, *conns], [], [], 0.05)
            if stdin in readable and not os.read(stdin, 1 << 12):
                break
            if listener in readable:
                conn, _ = listener.accept()
                try:
                    request, fds = _recv(conn, with_fds=3)
                except (EOFError, OSError, ValueError):
                    conn.close()
                    continue
                if len(fds) != 3 or not _is_ipykernel(request.get("argv", [])):
                    _send(conn, {"error": "not an ipykernel command"})
                    conn.close()
                    for fd in fds:
                        os.close(fd)
                    continue
                pid = os.fork()
                if pid == 0:
                    _child(request, fds, [listener, conn, *conns])
                for fd in fds:
                    os.close(fd)
                children[pid] = conn
                conns.add(conn)
                _send(conn, {"pid": pid})
            for conn in [c for c in conns if c in readable]:
                try:
                    gone = not conn.recv(1 << 12)
                except OSError:
                    gone = True
                if gone:  # the relay died (e.g. SIGKILL from jupyter_client): the kernel goes with it
                    conns.discard(conn)
                    for pid, c in list(children.items()):
                        if c is conn:
                            _kill(pid)
                    conn.close()
            while children:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                conn = children.pop(pid, None)
                if conn is not None and conn in conns:
                    try:
                        _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
                    except OSError:
                        pass
                    conns.discard(conn)
                    conn.close()
    finally:
        for pid in children:
            _kill(pid)
        listener.close()
        try:
            os.unlink(path)
        except OSError:
            pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


# --- the relay -----------------------------------------------------------------------------------------------


def relay(path: str, log: str, argv: list[str]) -> int:
    """Stand in for the kernel process: ask the server at ``path`` to fork it, forward signals, return its status."""
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if log != "-" else 1
    sock = None
    if path != "-" and _is_ipykernel(argv):
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            _send(sock, {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}, fds=(0, out, out))
            reply = _recv(sock)
            pid = reply["pid"]
        except (OSError, EOFError, KeyError, ValueError):
            sock = None
    if sock is None:  # no server: run the plain command in this process
        if out != 1:
            os.dup2(out, 1)
            os.dup2(out, 2)
        os.execv(argv[0], argv)

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except OSError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, forward)
    try:
        return int(_recv(sock).get("exit", 1))
    except (EOFError, OSError, ValueError):
        return 1


# --- the parent side -----------------------------------------------------------------------------------------


class ForkServer:
    """``with ForkServer(modules, cwd) as server:`` — ``server.socket`` is None if it could not start."""

    def __init__(self, modules, cwd, env=None, directory=None):
        import tempfile

        self.modules = list(modules)
        self.cwd = str(cwd)
        self.env = env
        self._dir = tempfile.mkdtemp(prefix="lrk-", dir=directory)
        self.socket: str | None = None
        self.failed: list[str] = []
        self.error: str | None = None
        self.proc = None

    def start(self) -> "ForkServer":
        path = os.path.join(self._dir, "s")
        cmd = [sys.executable, os.path.abspath(__file__), "serve", path, *self.modules]
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 120) -> str | None:
        """Block until the server has imported everything; return its socket path (None: use plain kernels)."""
        if self.socket or self.proc is None or self.error:
            return self.socket
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = self.proc.stdout.readline()
            break
        try:
            info = json.loads(line)
        except ValueError:
            info = {"ready": False, "error": "no answer" if not line else line.decode(errors="replace")}
        if info.get("ready"):
            self.socket = os.path.join(self._dir, "s")
            self.failed = info.get("failed", [])
        else:
            self.error = info.get("error", "did not start")
            self.close()
        return self.socket

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
        import shutil

        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def kernel_manager_class(socket_path: str | None, log: str | None, ipc_dir: str):
    """An AsyncKernelManager whose kernels are forked by the server at ``socket_path`` (None: plain kernels),
    talk over IPC sockets in ``ipc_dir`` (an absolute path: client and kernel may have different working
    directories) and write their console output to ``log``."""
    from jupyter_client.manager import AsyncKernelManager

    relay_cmd = [sys.executable, "-I", "-S", os.path.abspath(__file__), "relay", socket_path or "-", log or "-", "--"]

    class ForkedKernelManager(AsyncKernelManager):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(os.path.abspath(ipc_dir), "k"))
            super().__init__(*args, **kwargs)

        def format_kernel_cmd(self, extra_arguments=None):
            return relay_cmd + super().format_kernel_cmd(extra_arguments)

    return ForkedKernelManager


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        # Like ipykernel_launcher, which removes the working directory from sys.path (run as a script, the first
        # entry is this file's directory): the kernel's sys.path is then the same as a plain kernel's.
        if sys.path and sys.path[0] in ("", os.getcwd(), os.path.dirname(os.path.abspath(__file__))):
            del sys.path[0]
        serve(argv[1], argv[2:])
        return 0
    if argv[:1] == ["relay"] and "--" in argv:
        i = argv.index("--")
        return relay(argv[1], argv[2], argv[i + 1:])
    print("usage: forkserver.py serve SOCKET MODULE... | relay SOCKET LOG -- COMMAND...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
