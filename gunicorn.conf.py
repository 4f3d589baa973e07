"""gunicorn settings for the prediction service.

    gunicorn -c gunicorn.conf.py 'housing.deployment.app:create_app()'

Each worker loads the production model itself (no preload), so `kill -HUP <master>`
starts workers on the version the `production` alias names now and retires the old
ones gracefully. The master imports the heavy libraries once, so forked workers share
those pages and start fast.
"""

import multiprocessing
import os

from housing.config import go_offline

go_offline()
# Workers are the unit of parallelism: one OpenMP/BLAS thread each, or the workers'
# thread pools fight over the cores (set before numpy and scikit-learn load).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
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
import housing.deployment.native_trees  # noqa: F401
from housing.deployment.prediction_log import close_all

# Everything imported so far lives as long as the master: move it out of the cyclic
# collector's reach, so that a worker's collections do not write to (and so copy) the
# pages it shares with the master.
gc.freeze()

bind = os.environ.get("HOUSING_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
# sync measured faster than gthread at 1 and 8 connections on 2 cores (gthread keeps
# connections alive and wins at 32): benchmarks/service.py measures both.
worker_class = os.environ.get("HOUSING_WORKER_CLASS", "sync")
# gunicorn turns a sync worker with threads > 1 into a gthread worker: threads only apply
# to gthread, so that "sync" really is sync.
threads = int(os.environ.get("HOUSING_THREADS", "4")) if worker_class == "gthread" else 1
preload_app = False
timeout = int(os.environ.get("HOUSING_WORKER_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
backlog = 2048
# Retire a worker after this many requests (0: never); the prediction log drains first.
max_requests = int(os.environ.get("HOUSING_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# "-" (stdout), a file, or "off": gunicorn formats each line even for /dev/null (5% of a
# worker's time on single-row requests), and the prediction log already records every
# prediction with its request id.
_access = os.environ.get("HOUSING_ACCESS_LOG", "-").strip()
accesslog = None if _access.lower() in {"off", "none", "false", "0"} else _access
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("HOUSING_LOG_LEVEL", "info")
proc_name = "housing-service"


def worker_exit(server, worker):
    """Drain the worker's prediction log before it goes: graceful stop, the old workers of
    a SIGHUP swap, and a worker retired by max_requests all pass here."""
    close_all()
