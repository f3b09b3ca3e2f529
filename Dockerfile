# syntax=docker/dockerfile:1
#
# teleconsult container image. Two stages: the builder turns the project and every dependency into wheels;
# the final image installs only those wheels, so it carries no compiler, no pip cache and no source tree.
#
# Build:  docker build -t teleconsult .
# Run:    see compose.yaml (PostgreSQL, migrations, the app) and docs/configuration.md.
# Nothing secret is baked in: the secret key, the database password and the public URL come from the
# environment at run time, and production refuses to start without them (teleconsult serve).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

# Every dependency publishes manylinux wheels for CPython 3.11 on amd64 and arm64, so no compiler is
# installed here. Should a platform lack one, add `apt-get install --no-install-recommends build-essential`
# to this stage only: the final stage stays free of compilers either way.

WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes, not on every
# code edit. The list is read from pyproject.toml itself so that there is one list to maintain.
COPY pyproject.toml README.md ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip wheel --wheel-dir /wheels --requirement requirements.txt

# Then the project itself, as one more wheel (templates, static files, translations and migrations are
# package data, see pyproject.toml).
COPY . .
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --no-deps --wheel-dir /wheels .

# ------------------------------------------------------------------------------------------------ final
FROM ${PYTHON_IMAGE}

# A fixed uid/gid so that volumes and host directories can be prepared (chown 10001) before the container
# exists, and so that the process never runs as root.
ARG APP_UID=10001
ARG APP_GID=10001

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    TELECONSULT_HOST=0.0.0.0 \
    TELECONSULT_PORT=8080 \
    TELECONSULT_DATA_DIR=/var/lib/teleconsult \
    TELECONSULT_MODE=production
# TELECONSULT_HOST: inside a container the port is reached through the container's own interface, not its
# loopback; what is published (and to whom) is decided by `docker run -p` / compose.yaml.
# TELECONSULT_MODE=production: an image started without configuration must refuse to run with the public
# demo secret rather than serve. `teleconsult demo` still works: it forces demo mode itself.

RUN groupadd --system --gid "${APP_GID}" teleconsult \
    && useradd --system --uid "${APP_UID}" --gid "${APP_GID}" --no-create-home \
        --home-dir /var/lib/teleconsult --shell /usr/sbin/nologin teleconsult \
    && install --directory --owner="${APP_UID}" --group="${APP_GID}" --mode=0750 /var/lib/teleconsult

# The wheels are bind-mounted from the builder for this one step rather than copied, so they never become
# a layer of the final image; --no-index makes sure nothing else is fetched from a registry (which is also
# why the version needs no pin here: the only teleconsult on offer is the one just built).
# hadolint ignore=DL3013
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels --root-user-action=ignore teleconsult

# The data directory (SQLite file when no PostgreSQL URL is set, encrypted blobs) is a volume, owned by
# the service's user: a new named volume is initialised with this ownership.
VOLUME ["/var/lib/teleconsult"]
WORKDIR /var/lib/teleconsult
USER ${APP_UID}:${APP_GID}

EXPOSE 8080

# Liveness only (/healthz: the process answers). The slim image has no curl, so Python's urllib does it;
# any error or non-2xx status raises, and the uncaught exception exits 1 = unhealthy. Readiness (database
# reachable, migrations current) is /readyz, for the reverse proxy or orchestrator.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TELECONSULT_PORT', '8080') + '/healthz', timeout=4)"]

# Exec form: teleconsult is PID 1 and receives SIGTERM itself; aiohttp then shuts down gracefully
# (10 s at most, see teleconsult/cli.py), within compose.yaml's stop_grace_period.
CMD ["teleconsult", "serve"]
