"""Servers started for the team stack, the tests, the benchmarks and CI: a free loopback
port, waiting until a started server answers, and the stack's own servers, each started in
its own session (it outlives the command that started it), its pid in a file, its output
in a log file, ready once its URL answers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

STARTUP_SECONDS = 90


class NotReady(RuntimeError):
    """A started server exited, or did not answer in time."""


def free_port() -> int:
    """A loopback TCP port that is free now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str, timeout: float = 2.0, up_codes: tuple[int, ...] = ()) -> bool:
    """True if ``url`` answers 200 (or one of ``up_codes``)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except urllib.error.HTTPError as err:
        return err.code in up_codes
    except OSError:
        return False


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = STARTUP_SECONDS,
               up_codes: tuple[int, ...] = ()) -> None:
    """Return once ``url`` answers; NotReady if ``proc`` exits first or ``timeout``
    seconds pass (the process is left running: the caller owns it)."""
    deadline = time.monotonic() + timeout
    while not answers(url, up_codes=up_codes):
        if proc.poll() is not None:
            raise NotReady(f"the server exited with {proc.returncode} before {url} answered")
        if time.monotonic() > deadline:
            raise NotReady(f"{url} did not answer within {timeout:g} s")
        time.sleep(0.3)


class Server:
    """One server of the stack: its pid file and log file in ``folder``, and the URL whose
    answer (200, or one of ``up_codes``) says it is up."""

    def __init__(self, folder: Path, name: str, url: str, up_codes: tuple[int, ...] = ()):
        self.folder, self.name, self.url, self.up_codes = folder, name, url, up_codes
        self.pid_file = folder / f"{name}.pid"
        self.log_file = folder / f"{name}.log"

    def healthy(self, timeout: float = 2.0) -> bool:
        return answers(self.url, timeout, self.up_codes)

    def pid(self) -> int | None:
        """The pid of the server this stack started, if that process is alive."""
        try:
            pid = int(self.pid_file.read_text())
            with contextlib.suppress(ChildProcessError):  # not this process's child
                # A server this process started (up() called in-process) and that has
                # exited stays a zombie, which signal 0 still finds, until reaped here.
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return None
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None

    def start(self, cmd: list[str], env: dict[str, str]) -> int:
        """Start the server in its own session (it outlives this command) and wait until
        it answers."""
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True, cwd=self.folder)
        self.pid_file.write_text(str(proc.pid))
        try:
            wait_ready(self.url, proc, STARTUP_SECONDS, self.up_codes)
        except NotReady as err:
            self.stop()
            raise RuntimeError(f"{self.name}: {err}; see {self.log_file}") from err
        return proc.pid

    def stop(self, timeout: float = 30) -> bool:
        """SIGTERM the server's process group and wait; True if one was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
        if self.pid() is not None:
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True
