"""Try a version in a process of its own before a worker adopts it.

The checks in model_check and lgbm_text refuse every crafted array and model text known
to crash native code, but LightGBM, lleaves and scikit-learn's tree code are C and C++
that trust what they read. So a worker never runs them first on new bytes: it downloads
the version and runs ``python -m housing.deployment.predict.probe`` on the file, which
loads it with the skops allow-list and runs predict.prepare (the checks, the compiled
predict, its comparison with the Pipeline). Only if that process exits cleanly does the
worker do the same itself. A segmentation fault, an abort, an exception, a timeout or
more memory than PROBE_MEMORY_BYTES refuses the version, with the reason, and the worker
keeps serving what it serves.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

PROBE_TIMEOUT = 300.0
PROBE_MEMORY_BYTES = 6 << 30  # address space; a crafted size request fails, not the host
MAX_REASON = 300


class Refused(ValueError):
    """The version failed to load, pass its checks or predict, in the probe or here."""


class ProbeUnfinished(RuntimeError):
    """The probe did not finish in time (a busy machine, not a verdict on the version)."""


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text).strip()[:MAX_REASON]


def probe(model_path: Path, ranges: dict, tree_cache: Path | None,
          timeout: float = PROBE_TIMEOUT) -> dict:
    """Run the probe on ``model_path``; its report, or Refused with the reason."""
    ranges_path = Path(model_path).with_name("probe-ranges.json")
    ranges_path.write_text(json.dumps(ranges))
    command = [sys.executable, "-m", "housing.deployment.predict.probe", str(model_path),
               str(ranges_path), *([str(tree_cache)] if tree_cache is not None else [])]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              errors="replace", stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ProbeUnfinished(f"the probe did not finish in {timeout:.0f} s") from None
    lines = done.stdout.strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else {}
    except ValueError:
        report = {}
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        last = done.stderr.strip().splitlines()[-1:] or [""]
        raise Refused(_printable(f"loading it killed the probe process ({name}) "
                                 f"{last[0]}"))
    if done.returncode != 0 or not report.get("ok"):
        raise Refused(_printable(str(report.get("error") or
                                     f"the probe exited with {done.returncode}")))
    return report


def main(argv: list[str] | None = None) -> int:
    """``probe MODEL RANGES [TREE_CACHE]``: prints one JSON line, exits 0 if it passed."""
    import resource

    argv = sys.argv[1:] if argv is None else argv
    resource.setrlimit(resource.RLIMIT_AS, (PROBE_MEMORY_BYTES, PROBE_MEMORY_BYTES))
    try:
        from housing.config import go_offline
        from housing.deployment.predict.prepare import prepare
        from housing.io import read_json
        from housing.registry.serialization import load_skops_model

        go_offline()
        ranges = read_json(argv[1])
        served = prepare(load_skops_model(argv[0]), ranges,
                         Path(argv[2]) if len(argv) > 2 else None, build=True)
    except (Exception, MemoryError) as err:  # noqa: BLE001 - every failure is a refusal
        print(json.dumps({"ok": False, "error": f"{type(err).__name__}: {err}"[:MAX_REASON]}))
        return 1
    print(json.dumps({"ok": True, "runtime": served.runtime,
                      "max_abs_diff": served.max_abs_diff}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
