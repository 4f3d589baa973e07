"""A server the local team stack starts and stops: started in its own session (it outlives
the command that started it), its pid in a file, its output in a log file, ready once its
URL answers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

STARTUP_SECONDS = 90


class Server:
    """One server of the stack: its pid file and log file in ``folder``, and the URL whose
    answer (200, or one of ``up_codes``) says it is up."""

    def __init__(self, folder: Path, name: str, url: str, up_codes: tuple[int, ...] = ()):
        self.folder, self.name, self.url, self.up_codes = folder, name, url, up_codes
        self.pid_file = folder / f"{name}.pid"
        self.log_file = folder / f"{name}.log"

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=timeout) as resp:
                return resp.status == 200
        except urllib.error.HTTPError as err:
            return err.code in self.up_codes
        except OSError:
            return False

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
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {proc.returncode}; see "
                                   f"{self.log_file}")
            if self.healthy():
                return proc.pid
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {STARTUP_SECONDS} s")

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
