"""The rooms of src/housing import only downward: a stage never imports the service, the
service never imports the CLI, and nothing below the CLI imports the development tools.
An AST walk reads every import, function-local ones included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# Lowest first. A module may import its own room and the rooms of lower layers; rooms of
# one layer do not import each other.
LAYERS: list[set[str]] = [
    {"housing", "environment"},                               # settings from the environment
    {"config"},                                               # names and paths
    {"io", "logs", "connections", "params"},                  # writers, logging, stores, params
    {"log_store"},                                            # the log's store
    {"registry"},                                             # the one place MLflow is spoken to
    {"code_deps"},                                            # the code each stage runs
    {"stages"},                                               # the stage table
    {"data"},                                                 # prepare
    {"features"},                                             # featurize
    {"models"},                                               # tune, evaluate, register
    {"monitoring", "reporting"},                              # monitor; report and review
    {"deployment"},                                           # the service
    {"dev"},                                                  # stack, workspaces, browser
    {"cli"},                                                  # `housing <command>`
]
LAYER = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}


def room(module: str) -> str:
    """``housing.models.tune`` -> ``models``; ``housing.config`` -> ``config``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The project modules a source file imports anywhere."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {m for m in found if m == "housing" or m.startswith("housing.")}


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Each import from a module to a room that is not its own and not lower."""
    out = []
    for importer, imported in sorted(edges.items()):
        for target in sorted(imported):
            here, there = room(importer), room(target)
            if here != there and LAYER[there] >= LAYER[here]:
                out.append(f"{importer} imports {target} ({here} may not import {there})")
    return out


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in SRC.rglob("*.py")}


def test_every_room_has_a_layer(edges):
    assert {room(m) for m in edges} <= set(LAYER)


def test_rooms_import_only_downward(edges):
    assert violations(edges) == []


def test_a_stage_importing_the_service_or_the_tools_is_caught():
    assert violations({"housing.models.tune": {"housing.deployment.app"},
                       "housing.deployment.app": {"housing.dev.workspace"},
                       "housing.monitoring.monitor": {"housing.reporting.report"}}) == [
        "housing.deployment.app imports housing.dev.workspace (deployment may not import dev)",
        "housing.models.tune imports housing.deployment.app (models may not import deployment)",
        "housing.monitoring.monitor imports housing.reporting.report "
        "(monitoring may not import reporting)",
    ]


# The service's own rooms, lowest first: the metrics; what parses, checks and predicts; the
# served model and the contract; answering a request and auth; the blueprints; the app.
# No room hands a function to another: a higher room imports what it calls.
SERVICE_LAYERS: list[set[str]] = [
    {"metrics", "fork_safety", "log_lines"},
    {"deployment", "settings", "contract", "sessions", "log_shipper", "predict", "shadow"},
    {"request_body", "known_good", "prediction_log"},
    {"served_model", "openapi", "oip"},
    {"answer", "auth"},
    {"api", "dashboard"},
    {"oip_api"},
    {"app"},
]
SERVICE_LAYER = {room: i for i, rooms in enumerate(SERVICE_LAYERS) for room in rooms}


def service_room(module: str) -> str:
    """``housing.deployment.dashboard.views`` -> ``dashboard``."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 else parts[1]


def service_violations(edges: dict[str, set[str]]) -> list[str]:
    out = []
    for importer, imported in sorted(edges.items()):
        if room(importer) != "deployment":
            continue
        for target in sorted(t for t in imported if room(t) == "deployment"):
            here, there = service_room(importer), service_room(target)
            if here != there and SERVICE_LAYER[there] >= SERVICE_LAYER[here]:
                out.append(f"{importer} imports {target} ({here} may not import {there})")
    return out


def test_every_service_room_has_a_layer(edges):
    assert {service_room(m) for m in edges if room(m) == "deployment"} <= set(SERVICE_LAYER)


def test_the_services_rooms_import_only_downward(edges):
    assert service_violations(edges) == []


def test_a_callback_into_the_app_or_across_blueprints_is_caught():
    assert service_violations({
        "housing.deployment.dashboard.routes": {"housing.deployment.api"},
        "housing.deployment.served_model": {"housing.deployment.app"},
        "housing.deployment.dashboard.views": {"housing.deployment.dashboard.charts"}}) == [
        "housing.deployment.dashboard.routes imports housing.deployment.api "
        "(dashboard may not import api)",
        "housing.deployment.served_model imports housing.deployment.app "
        "(served_model may not import app)",
    ]
