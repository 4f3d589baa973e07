"""gunicorn settings for the prediction service.

    gunicorn -c gunicorn.conf.py 'housing.deployment.app:create_app()'

Each worker loads the production model itself (no preload), so `kill -HUP <master>`
starts workers on the version the `production` alias names now and retires the old
ones gracefully. The master imports the heavy libraries once, so forked workers share
those pages and start fast.
"""

import os

from housing.config import go_offline

go_offline()
# Workers are the unit of parallelism: one OpenMP/BLAS thread each, or the workers'
# thread pools fight over the cores (set before numpy and scikit-learn load).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# The service's settings, read once (housing.deployment.settings): a bad variable stops
# the master here, with the variable's name.
from housing.deployment.settings import Settings

service_settings = Settings.from_env()
# /metrics adds up every worker's values from one folder, emptied now: prometheus_client
# reads its place from the environment when it is first imported, so this comes first.
from housing.deployment.metrics import multiprocess_folder, worker_gone

multiprocess_folder(service_settings.metrics_dir)
# What a worker needs to load and run a model, imported once here so that the forked
# workers share those pages instead of each importing its own copy.
import gc

import lightgbm  # noqa: F401 (and matplotlib, which it imports to probe for plotting)
import lleaves  # noqa: F401
import llvmlite.binding  # noqa: F401
import mlflow.artifacts
import mlflow.store.model_registry.sqlalchemy_store
import mlflow.store.tracking.sqlalchemy_store
import mlflow.tracking  # noqa: F401
import mpmath  # noqa: F401
import pyarrow  # noqa: F401 (pandas' string columns)
import sklearn.ensemble
import sklearn.neighbors  # noqa: F401
import skops.io  # noqa: F401

import housing.deployment.app
import housing.deployment.predict.trees  # noqa: F401
from housing.deployment.prediction_log import close_all

# Everything imported so far lives as long as the master: move it out of the cyclic
# collector's reach, so that a worker's collections do not write to (and so copy) the
# pages it shares with the master.
gc.freeze()

bind = service_settings.bind
workers = service_settings.workers
# gthread by default: a connection waits in the worker's poller, or holds one of its
# threads, never the whole worker, so idle and slow sockets do not stall other clients
# (64 threads each; a sync worker is stalled by one socket that never finishes its
# header). benchmarks/service.py measures both classes.
worker_class = service_settings.worker_class
# gunicorn turns a sync worker with threads > 1 into a gthread worker: threads only apply
# to gthread, so that "sync" really is sync.
threads = service_settings.threads if worker_class == "gthread" else 1
preload_app = False
timeout = service_settings.worker_timeout
graceful_timeout = 30
keepalive = 5
backlog = 2048
# Retire a worker after this many requests (0: never); the prediction log drains first.
max_requests = service_settings.max_requests
max_requests_jitter = max_requests // 10
# gunicorn formats each access line even for /dev/null, and the prediction log already
# records every prediction with its request id: HOUSING_ACCESS_LOG=off turns it off.
accesslog = service_settings.access_log_target
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
errorlog = "-"
loglevel = service_settings.log_level
proc_name = "housing-service"


def on_starting(server):
    """Before the first worker forks: try the production version in a probe process,
    which compiles its trees into the tree cache, so that every worker loads it on lleaves
    from its first request and none compiles or swaps runtimes while it serves (a probe
    failure or an unreachable registry is logged; the workers retry and report it)."""
    from housing.deployment.holder import warm_up

    if service_settings.tree_cache is not None:
        server.log.info("warm-up: %s", warm_up(
            service_settings.model_name, service_settings.model_alias,
            service_settings.tree_cache, service_settings.state_dir))


def worker_exit(server, worker):
    """Drain the worker's prediction log before it goes: graceful stop, the old workers of
    a SIGHUP swap, and a worker retired by max_requests all pass here."""
    close_all()


def child_exit(server, worker):
    """In the master, after a worker exited by any means: its live gauges (the log's
    queue, the version it served) leave /metrics; its counts stay in the totals."""
    worker_gone(worker.pid)
