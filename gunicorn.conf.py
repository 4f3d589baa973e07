"""gunicorn settings for the prediction service.

    gunicorn -c gunicorn.conf.py 'housing.deployment.app:create_app()'

The master builds the app once (preloaded): it loads the production version, tried in a
probe process and its trees compiled, before it forks, so every worker starts on lleaves
and shares the model's pages with the master and the other workers instead of holding a
copy (benchmarks/service_memory.py). Each worker then checks the alias itself. `kill -HUP
<master>` loads the version the `production` alias names now into the master, then starts
new workers from it and retires the old ones gracefully.
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
# The workers inherit the master's registry store: its pooled connections stay the
# master's (set before anything connects).
from housing.deployment.fork_safety import fork_safe_connections

fork_safe_connections()
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
from housing.deployment.app import start_serving
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
preload_app = True
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


def when_ready(server):
    """The master loaded the app before it forks a worker: say what it will serve."""
    holder = server.app.wsgi().extensions["housing"].holder
    if holder.current is not None:
        server.log.info("version %s loaded on %s before the workers start",
                        holder.current.version, holder.current.runtime_name)
    else:
        server.log.warning("no version loaded before the workers start: %s",
                           holder.last_error)


def on_reload(server):
    """SIGHUP, before the new workers fork: the master takes the version the alias names
    now (tried in a probe first; a refused version leaves the master's as it was)."""
    server.app.wsgi().extensions["housing"].holder.refresh()


def pre_fork(server, worker):
    """What the master holds now (the model too) lives as long as it: out of the cyclic
    collector's reach, so that no worker's collection copies those pages."""
    gc.freeze()


def post_worker_init(worker):
    """The worker starts answering: it checks the alias, reports its version, polls."""
    start_serving(worker.wsgi)


def worker_exit(server, worker):
    """Drain the worker's prediction log before it goes: graceful stop, the old workers of
    a SIGHUP swap, and a worker retired by max_requests all pass here."""
    close_all()


def child_exit(server, worker):
    """In the master, after a worker exited by any means: its live gauges (the log's
    queue, the version it served) leave /metrics; its counts stay in the totals."""
    worker_gone(worker.pid)
