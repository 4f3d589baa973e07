"""`housing review`'s tables, and the offline plots page DVC uses."""

from pathlib import Path

from housing.params import RegisterParams
from housing.reporting import review


def test_diff_table_lists_each_changed_key():
    rows = review.diff_table({"reports/metrics.json": {
        "model.rmse": {"old": 0.3787, "new": 0.3801, "diff": 0.0014},
        "model.r2": {"old": 0.89, "new": None, "diff": None}}}, with_change=True)
    assert rows[0] == "| file | key | base | this change | change |"
    assert "| reports/metrics.json | model.rmse | 0.3787 | 0.3801 | 0.0014 |" in rows
    assert "| reports/metrics.json | model.r2 | 0.8900 | – | – |" in rows
    assert review.diff_table({}, with_change=False) == ["No changes."]


def test_cells_escape_table_syntax():
    rows = review.diff_table({"params.yaml": {"x": {"old": "a|b", "new": "c"}}},
                             with_change=False)
    assert "| params.yaml | x | a\\|b | c |" in rows


def test_the_committed_offline_template_is_what_its_script_writes(repo_root):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "offline_plots_template", repo_root / "scripts/offline_plots_template.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (repo_root / ".dvc/plots/offline.html").read_text(encoding="utf8")
    assert committed == module.template()
    assert "{plot_divs}" in committed and "{scripts}" not in committed
    assert "cdn." not in committed and "window.vegaEmbed" in committed


def test_dvc_uses_the_offline_template(repo_root):
    config = (repo_root / ".dvc/config").read_text()
    assert "html_template = plots/offline.html" in config
    assert Path(repo_root / ".dvc/plots/offline.html").is_file()


def test_gate_line_names_the_decision(monkeypatch):
    from types import SimpleNamespace

    Version = SimpleNamespace(version="3",
                              tags={"test_rmse": "0.40", "test_r2": "0.85", "test_md5": "x"})

    from housing.registry import store

    monkeypatch.setattr(store, "version_by_alias", lambda name, alias: Version)
    lines = review.production_section({"rmse": 0.38, "r2": 0.86},
                                      RegisterParams(max_rmse=0.5, min_r2=0.75,
                                                     min_improvement=0.0, min_live_rows=0))
    assert lines[0].startswith("| metric | production (version 3) |")
    assert "| rmse | 0.4000 | 0.3800 | -0.0200 |" in lines
    assert "Release gate: **would promote**." in lines


def test_the_base_revision_is_never_read_as_a_git_option(repo_root, tmp_path, monkeypatch):
    monkeypatch.chdir(repo_root)
    target = tmp_path / "written"
    assert review.committed_bytes(f"--output={target}", Path("README.md")) is None
    assert not target.exists()
    assert review.committed_bytes("HEAD", Path("README.md")).startswith(b"# housing")
    assert review.committed_bytes("HEAD", Path("no/such/file.png")) is None
