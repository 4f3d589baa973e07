"""`housing review --base REV`: the pull-request report of a change, in Markdown.

It reads what DVC says of the change (`dvc params diff`, `dvc metrics diff`), puts the
model's test metrics beside the current production version's with the release gate's
decision, and shows each figure the evaluate stage drew (the PNGs the report embeds, which
git tracks) at the base revision beside this change's: nothing is drawn again. A CI job
posts the file as a pull-request comment (.github/workflows/review.yml); `dvc plots diff`
draws the same data interactively.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from housing.config import MODEL_NAME, EvaluatePaths
from housing.io import atomic_path, read_json
from housing.models.gate import PRODUCTION, promotion_decision
from housing.models.metrics import METRIC_NAMES
from housing.params import load_params

logger = logging.getLogger(__name__)

DVC_TIMEOUT_SECONDS = 300
FIGURES_DIR = EvaluatePaths().figures_dir  # the evaluate stage's PNGs, which git tracks


def dvc_json(*args: str) -> dict:
    """Run a dvc command with --json in this workspace and parse its answer."""
    cmd = [sys.executable, "-m", "dvc", *args, "--json"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                             timeout=DVC_TIMEOUT_SECONDS)
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"`dvc {' '.join(args)}` failed: {err.stderr.strip()[-800:]}") from None
    return json.loads(out.stdout or "{}")


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-4 or value == 0 else f"{value:.2e}"
    return str(value).replace("|", "\\|")


def diff_table(diff: dict[str, dict], *, with_change: bool) -> list[str]:
    """One row per changed key of every file in a `dvc ... diff --json` answer."""
    head = ["file", "key", "base", "this change", *(["change"] if with_change else [])]
    rows = [f"| {' | '.join(head)} |", f"|{'---|' * len(head)}"]
    for file, keys in sorted(diff.items()):
        for key, entry in sorted(keys.items()):
            cells = [file, key, entry.get("old"), entry.get("new")]
            if with_change:
                cells.append(entry.get("diff"))
            rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return rows if len(rows) > 2 else ["No changes."]


def production_section(candidate: dict[str, float], thresholds) -> list[str]:
    """This change's test metrics against the production version, and the gate's word."""
    from housing.registry import store

    current = store.version_by_alias(MODEL_NAME, PRODUCTION)
    production = ({"version": int(current.version), **store.version_metrics(current)}
                  if current is not None else None)
    decision = promotion_decision(candidate, production, thresholds)
    lines = ["| metric | production"
             + (f" (version {production['version']})" if production else "")
             + " | this change | change |", "|---|---:|---:|---:|"]
    for metric in METRIC_NAMES:
        new = candidate.get(metric)
        old = production.get(metric) if production else None
        change = None if old is None or new is None else new - old
        lines.append(f"| {metric} | {_cell(old)} | {_cell(new)} | {_cell(change)} |")
    verdict = ("**would promote**" if decision.promoted else
               "**would stay in staging**" if decision.passes else "**fails the gate**")
    return [*lines, "", f"Release gate: {verdict}.", *(f"- {r}" for r in decision.reasons)]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def committed_bytes(rev: str, path: Path) -> bytes | None:
    """A file as git holds it at ``rev`` (None where it has none)."""
    shown = subprocess.run(["git", "show", "--end-of-options", f"{rev}:{path.as_posix()}"],
                           capture_output=True, timeout=DVC_TIMEOUT_SECONDS)
    return shown.stdout if shown.returncode == 0 else None


def figure_pairs(base: str, figures_dir: Path, out_dir: Path) -> list[str]:
    """Each figure of ``figures_dir`` at ``base`` beside the workspace's, as Markdown; the
    images of changed figures are copied to ``out_dir``/plots."""
    lines = []
    for path in sorted(figures_dir.glob("*.png")):
        old, new = committed_bytes(base, path), path.read_bytes()
        name = path.stem.replace("_", " ")
        if old == new:
            lines.append(f"- {name}: unchanged")
            continue
        cells = []
        for label, data in (("base", old), ("change", new)):
            target = out_dir / "plots" / f"{_slug(path.stem)}-{label}.png"
            if data is None:
                cells.append("–")
                continue
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
            cells.append(f"![{name}, {label}](plots/{target.name})")
        lines += ["", f"**{name}**", "", f"| `{base}` | this change |", "|---|---|",
                  f"| {cells[0]} | {cells[1]} |", ""]
    return lines or ["No figures."]


def run(*, base: str, out_dir: Path, params_file: Path = Path("params.yaml"),
        metrics_file: Path = Path("reports/metrics.json"),
        figures_dir: Path = FIGURES_DIR) -> Path:
    """Write ``out_dir``/report.md (and its images) for the change from ``base`` to the
    workspace; return the report's path."""
    params = load_params(params_file)
    candidate = read_json(metrics_file)["model"]
    text = "\n".join([
        f"# Review: the workspace against `{base}`", "",
        "## Params", "", *diff_table(dvc_json("params", "diff", base), with_change=False), "",
        "## Metrics", "", *diff_table(dvc_json("metrics", "diff", base), with_change=True), "",
        "## Against production", "", *production_section(candidate, params.register), "",
        "## Figures", "", *figure_pairs(base, figures_dir, out_dir), ""])
    report = out_dir / "report.md"
    with atomic_path(report) as tmp:
        tmp.write_text(text)
    logger.info("wrote %s", report)
    return report
