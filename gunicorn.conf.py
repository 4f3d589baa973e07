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
import housing.deployment.app  # noqa: E402,F401
import mlflow.artifacts  # noqa: E402,F401
import mlflow.store.model_registry.sqlalchemy_store  # noqa: E402,F401
import mlflow.store.tracking.sqlalchemy_store  # noqa: E402,F401
import mlflow.tracking  # noqa: E402,F401
import skops.io  # noqa: E402,F401
import sklearn.ensemble  # noqa: E402,F401

bind = os.environ.get("HOUSING_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "sync"
preload_app = False
timeout = int(os.environ.get("HOUSING_WORKER_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
backlog = 2048
max_requests = 0
accesslog = os.environ.get("HOUSING_ACCESS_LOG", "-")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
errorlog = "-"
loglevel = os.environ.get("HOUSING_LOG_LEVEL", "info")
proc_name = "housing-service"
