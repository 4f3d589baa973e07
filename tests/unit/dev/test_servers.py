"""free_port and wait_ready against real processes on loopback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from housing.dev.servers import NotReady, free_port, wait_ready


def test_wait_ready_returns_once_a_real_server_answers(tmp_path):
    port = free_port()
    (tmp_path / "ready").write_text("ok")
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", proc, timeout=30)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_wait_ready_names_the_exit_of_a_server_that_dies_first():
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(NotReady, match="exited with 3"):
        wait_ready(f"http://127.0.0.1:{free_port()}/ready", proc, timeout=30)


def test_wait_ready_gives_up_after_its_timeout_and_leaves_the_process_to_its_owner():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(NotReady, match=r"did not answer within 0\.5 s"):
            wait_ready(f"http://127.0.0.1:{free_port()}/ready", proc, timeout=0.5)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
