"""Every benchmark writes what it prints to docs/benchmarks/<name>.md, headed by the
machine, the date, the commit and the command that measured it, so a figure in the docs
is always the output of its script's last run, never a copy.

    if __name__ == "__main__":
        with written_to_docs("service", "The prediction service against mlflow"):
            main()

Lines that start with ``|`` (the Markdown tables) are kept as they are; every other line
becomes a bullet, but MLflow's links to the runs it logged (NOISE). A run that fails
writes nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from housing.io import write_text

ROOT = Path(__file__).resolve().parents[1]
NOISE = ("🏃 View run ", "🧪 View experiment at: ")  # MLflow prints these on stdout
RULE = re.compile(r"\|[-:| ]+\|")  # a Markdown table's header rule
DOCS = ROOT / "docs" / "benchmarks"


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


def machine() -> str:
    """CPU model, cores and memory of this machine."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    return f"{model}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}"


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()

    sha = git("rev-parse", "--short", "HEAD") or "unknown"
    return sha + (" with uncommitted changes" if git("status", "--porcelain", "--",
                                                      "src", "benchmarks") else "")


def markdown(title: str, command: str, output: str, *, when: dt.datetime) -> str:
    lines = [f"# {title}", "",
             f"Written by `{command}` on {when:%Y-%m-%d %H:%M} UTC at commit {commit()}, "
             f"on {machine()}.", ""]
    table = False
    printed = [line.rstrip() for line in output.splitlines() if not line.startswith(NOISE)]
    for i, line in enumerate(printed):
        if line.startswith("|"):
            # a new table (its header is followed by a |---| row) starts a new paragraph
            header = i + 1 < len(printed) and RULE.fullmatch(printed[i + 1]) is not None
            if (not table or header) and lines[-1] != "":
                lines.append("")
            lines.append(line)
            table = True
        elif line:
            if table:
                lines.append("")
            lines.append(f"- {line}")
            table = False
    return "\n".join(lines).rstrip() + "\n"


@contextlib.contextmanager
def written_to_docs(name: str, title: str) -> Iterator[None]:
    """Run the body with stdout also captured; on success write docs/benchmarks/<name>.md
    (atomically)."""
    captured = io.StringIO()
    stdout = sys.stdout
    sys.stdout = _Tee(stdout, captured)
    try:
        yield
    finally:
        sys.stdout = stdout
    command = " ".join(["python", f"benchmarks/{name}.py", *sys.argv[1:]])
    text = markdown(title, command, captured.getvalue(), when=dt.datetime.now(dt.UTC))
    target = DOCS / f"{name}.md"
    write_text(text, target)
    print(f"wrote {target.relative_to(ROOT)}")


def median_us(fn, arg, rounds: int = 2000) -> float:
    """The median time of ``fn(arg)`` in microseconds over ``rounds`` calls, after up to 50
    warm-up calls."""
    for _ in range(min(50, rounds)):
        fn(arg)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn(arg)
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)
