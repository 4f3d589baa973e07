"""The one entry point: ``housing <stage> ...``. Parses arguments, sets up logging, runs a stage.

Pipeline stages take no parameters on the command line: they read their section of
params.yaml (``--params`` points at another file) and the paths dvc.yaml declares, so
``housing <stage>`` by hand does exactly what ``dvc repro`` does for that stage.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from housing.config import LOGS_DIR, PRODUCTION_DIR, external_path, go_offline
from housing.stages import OPTUNA, STAGE, STAGES, TRACKING

logger = logging.getLogger(__name__)

def check_stores(needed: frozenset[str], params=None) -> None:
    """Fail within seconds, naming the store, when one is misconfigured or unreachable."""
    from housing import connections
    from housing.config import optuna_storage, tracking_uri

    if TRACKING in needed:
        connections.check_tracking(tracking_uri())
    if OPTUNA in needed:
        connections.check_optuna(optuna_storage(params.storage))


def run_stage(args: argparse.Namespace) -> None:
    """Validate params.yaml and the stores first (before any work), then run the stage."""
    from housing.params import load_params

    stage = STAGE[args.command]
    params = getattr(load_params(args.params), stage.name)
    check_stores(stage.stores, params)
    paths = stage.paths().resolved()
    extras = {}
    if stage.name == "tune":
        extras = {"trials_only": args.trials_only, "worker": args.worker}
    importlib.import_module(stage.module).run(params, paths, **extras)


def _simulate(args: argparse.Namespace) -> None:
    from housing.deployment.settings import Settings
    from housing.monitoring import simulate

    simulate.run(stream_path=args.stream, production_dir=external_path(args.production_dir),
                 scenario=args.scenario, rows=args.rows, seed=args.seed, batch=args.batch,
                 features=args.features, labels=args.labels, url=args.url,
                 traffic=args.traffic,
                 api_key=Settings.from_env().api_key)


def _promote(args: argparse.Namespace) -> None:
    from housing.models import release
    from housing.params import load_params

    thresholds = load_params(args.params).register
    check_stores(frozenset({TRACKING}))
    event = release.promote(thresholds, reason=args.reason, version=args.version,
                            experiment=args.experiment, force=args.force)
    print(json.dumps(event, sort_keys=True))


def _rollback(args: argparse.Namespace) -> None:
    from housing.models import release

    check_stores(frozenset({TRACKING}))
    release.rollback(version=args.version, reason=args.reason)


def _history(args: argparse.Namespace) -> None:
    from housing.config import MODEL_NAME
    from housing.registry import events

    check_stores(frozenset({TRACKING}))
    for event in events.history(MODEL_NAME):
        print(json.dumps(event, sort_keys=True) if args.json else events.format_event(event))


def _review(args: argparse.Namespace) -> None:
    from housing.reporting import review

    check_stores(frozenset({TRACKING}))
    path = review.run(base=args.base, out_dir=args.out)
    print(path)


def _quarantine(args: argparse.Namespace) -> int:
    from housing.config import MODEL_NAME
    from housing.models.gate import PRODUCTION
    from housing.monitoring import quarantine
    from housing.registry.lookup import alias_version

    path = STAGE["monitor"].paths().resolved().accepted
    gate = quarantine.read_gate(path)
    if args.action == "list":
        print("\n".join(quarantine.describe(gate)))
        return 0
    if not args.batch:
        raise ValueError(f"quarantine {args.action} needs the batch's name")
    updated, done = getattr(quarantine, args.action)(gate, args.batch)
    check_stores(frozenset({TRACKING}))
    quarantine.write_gate(updated, path)
    version = alias_version(MODEL_NAME, PRODUCTION)
    if version is not None:
        from housing.registry.events import record_event

        record_event(MODEL_NAME, version, {"event": args.action, "batch": args.batch,
                                           "reason": args.reason})
    print(done)
    return 0


def _stack(args: argparse.Namespace) -> int:
    from housing.dev import stack

    return stack.run(args.action, purge=args.purge)


def _code_deps(args: argparse.Namespace) -> int:
    from housing.code_deps import rewrite_dvc_yaml
    from housing.io import write_text
    from housing.stages import code_deps

    derived = {stage.name: code_deps(stage) for stage in STAGES}
    if not args.write:
        for name, deps in derived.items():
            print(f"{name}:\n" + "".join(f"  - {d}\n" for d in deps), end="")
        return 0
    text = args.dvc_yaml.read_text()
    updated = rewrite_dvc_yaml(text, derived)
    if updated != text:
        write_text(updated, args.dvc_yaml)
    print(f"{args.dvc_yaml}: {'updated' if updated != text else 'unchanged'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="housing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="<stage>")
    _add_stages(sub)
    _add_simulate(sub)
    _add_release(sub)
    _add_operations(sub)
    return parser


def _add_stages(sub) -> None:
    for stage in STAGES:
        name = stage.name
        p = sub.add_parser(name, help=stage.help, description=stage.help)
        p.set_defaults(func=run_stage)
        p.add_argument("--params", type=Path, default=Path("params.yaml"),
                       help="parameters file (default: params.yaml, the one DVC tracks)")
        if name == "tune":
            p.add_argument("--trials-only", action="store_true",
                           help="join the study as an extra worker; write no outputs")
            p.add_argument("--worker", type=int, default=0,
                           help="extra worker index (offsets the sampler's seed)")


def _add_simulate(sub) -> None:
    p = sub.add_parser("simulate", help="make a production batch from the stream pool")
    p.set_defaults(func=_simulate)
    p.add_argument("--scenario", required=True, help="a shift: none, income_inflation, "
                   "geo_inland, geo_coastal_south, age_old, concept_bay_area; or a data bug: "
                   "bug_population_thousands, bug_income_hundred_thousands, "
                   "bug_income_dollars, bug_age_months, bug_rooms_total, "
                   "bug_occupancy_total, bug_age_stuck, bug_income_missing")
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", default="", help="batch name; default <scenario>-s<seed>")
    p.add_argument("--stream", type=Path, default=STAGE["prepare"].paths().stream)
    p.add_argument("--production-dir", type=Path, default=PRODUCTION_DIR)
    p.add_argument("--features", action=argparse.BooleanOptionalAction, default=True,
                   help="write the batch's feature file (--no-features with --url)")
    p.add_argument("--labels", action="store_true", help="also write the labels file")
    p.add_argument("--url", default="", help="send the rows to this running service")
    p.add_argument("--traffic", choices=("test", "production"), default="test",
                   help="how --url marks the rows: test (left out of monitoring) or "
                   "production (analysed like real traffic)")


def _add_release(sub) -> None:
    p = sub.add_parser("promote", help="move production to a registered version through the "
                       "release gate (the reviewed step after an experiment)")
    p.set_defaults(func=_promote)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--version", type=int, help="the registered version")
    which.add_argument("--experiment", help="the newest version this DVC experiment registered")
    p.add_argument("--reason", required=True, help="why: recorded in `housing history`")
    p.add_argument("--force", action="store_true",
                   help="promote even if the gate refuses (recorded as forced)")
    p.add_argument("--params", type=Path, default=Path("params.yaml"),
                   help="the gate's thresholds: this file's register section")

    p = sub.add_parser("review", help="a pull-request report in Markdown: params, metrics "
                       "against production with the gate's decision, and the evaluate "
                       "stage's figures beside the base's")
    p.set_defaults(func=_review)
    p.add_argument("--base", required=True, help="the git revision to compare with")
    p.add_argument("--out", type=Path, default=Path("review"),
                   help="folder for report.md and its images (default: review/)")

    p = sub.add_parser("rollback", help="move the production alias back to an earlier version")
    p.set_defaults(func=_rollback)
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--reason", default="")


def _add_operations(sub) -> None:
    p = sub.add_parser("history", help="the registry's promotion history, rollbacks included")
    p.set_defaults(func=_history)
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = sub.add_parser("quarantine", help="the batches the monitor holds back as data bugs: "
                       "list them, release one (its rows may be used) or drop one for good")
    p.set_defaults(func=_quarantine)
    p.add_argument("action", choices=("list", "release", "drop"), nargs="?", default="list")
    p.add_argument("batch", nargs="?", default="")
    p.add_argument("--reason", default="", help="recorded in housing history")

    p = sub.add_parser("code-deps", help="the src/ deps of each stage: the code it runs, "
                       "found by walking its imports; --write puts them in dvc.yaml")
    p.set_defaults(func=_code_deps)
    p.add_argument("--write", action="store_true", help="rewrite dvc.yaml's src/ deps")
    p.add_argument("--dvc-yaml", type=Path, default=Path("dvc.yaml"))

    p = sub.add_parser("stack", help="the local team stack: PostgreSQL databases, an MLflow "
                       "tracking server, a DVC remote")
    p.set_defaults(func=_stack)
    p.add_argument("action", choices=("up", "status", "down"))
    p.add_argument("--purge", action="store_true", help="with down: drop databases and data")


def main(argv: Sequence[str] | None = None) -> int:
    from housing.logs import configure_logging

    args = build_parser().parse_args(argv)
    go_offline()
    configure_logging(args.command, logging.DEBUG if args.verbose else logging.INFO, LOGS_DIR)
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        logger.error("%s failed: %s", args.command, err)
        return 1


if __name__ == "__main__":
    sys.exit(main())
