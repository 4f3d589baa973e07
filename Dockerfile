# The prediction service's image: the runtime set alone (requirements.txt), the project,
# gunicorn.conf.py; a non-root user; `gunicorn` as the default command; a health check.
#
#     podman build --secret id=pipconf,src=/etc/pip.conf \
#                  --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt -t housing .
#
# BASE is an official Python 3.11 image by default; any Debian-like image whose python3
# is 3.11 with venv works (CI builds on one made from Debian's packages, no registry
# reachable there). The pip settings and the CA bundle a build machine needs to reach
# its package index come in as build secrets: mounted for the one RUN that installs,
# never written to a layer.
#
# The trees of the production version are compiled when the container starts, into
# HOUSING_TREE_CACHE, and the version loaded once, before gunicorn forks its workers
# (gunicorn.conf.py preloads the app).
ARG BASE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE} AS build
COPY requirements.txt pyproject.toml /build/
COPY src /build/src
RUN --mount=type=secret,id=pipconf --mount=type=secret,id=cacert \
    set -eu; \
    if [ -s /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi; \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi; \
    python3 -m venv /opt/housing; \
    grep -v '^-e ' /build/requirements.txt > /build/runtime.txt; \
    /opt/housing/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
        --no-compile -r /build/runtime.txt; \
    /opt/housing/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
        --no-compile /build; \
    /opt/housing/bin/python -m pip uninstall --quiet --yes pip; \
    /opt/housing/bin/python -m compileall -q -j 0 /opt/housing/lib >/dev/null

FROM ${BASE}
RUN useradd --uid 10001 --user-group --home-dir /srv/housing --create-home housing
COPY --from=build /opt/housing /opt/housing
COPY gunicorn.conf.py /srv/housing/gunicorn.conf.py
ENV PATH=/opt/housing/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOUSING_BIND=0.0.0.0:8000 \
    HOUSING_WORKSPACE=/srv/housing \
    HOUSING_TREE_CACHE=/srv/housing/cache/trees \
    HOUSING_STATE_DIR=/srv/housing/state \
    HOUSING_PREDICTION_LOG_DIR=/srv/housing/predictions \
    HOUSING_SESSION_DIR=/srv/housing/state/sessions
USER housing
WORKDIR /srv/housing
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=300s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HOUSING_BIND', '').rpartition(':')[2] + '/health', timeout=2)"]
CMD ["gunicorn", "-c", "/srv/housing/gunicorn.conf.py", "housing.deployment.app:create_app()"]
