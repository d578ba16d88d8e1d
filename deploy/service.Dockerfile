# syntax=docker/dockerfile:1
#
# Praktika service image, built from the workspace's uv.lock. Build context: the repository root.
#
# This is the single source of services/<svc>/Dockerfile: those four files are this one with
# SERVICE and PORT given defaults, written by deploy/sync-dockerfiles.sh (edit here, then run it;
# `deploy/sync-dockerfiles.sh --check` fails when they drift). Building this file directly:
#   docker build -f deploy/service.Dockerfile --build-arg SERVICE=booking --build-arg PORT=8001 .
ARG SERVICE
ARG PORT
ARG PYTHON_IMAGE=python:3.11-slim
# The uv that wrote uv.lock; --frozen installs exactly what the lock says.
ARG UV_VERSION=0.13.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

# ---- builder: a virtualenv holding the service, servicekit, contracts and their locked deps ----
FROM ${PYTHON_IMAGE} AS builder
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<booking|content|cabinet|notify>" >&2; exit 1; }
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app

# 1. Third-party dependencies only, from the lock and the pyproject files: this layer is rebuilt
#    when they change, not when source changes. With --frozen uv needs only the members this
#    service installs; add a COPY here if the service gains another workspace dependency.
COPY uv.lock pyproject.toml ./
COPY contracts/pyproject.toml contracts/
COPY libs/servicekit/pyproject.toml libs/servicekit/
COPY services/${SERVICE}/pyproject.toml services/${SERVICE}/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "${SERVICE}" --no-install-workspace

# 2. The workspace packages, installed as wheels (--no-editable), so the venv is self-contained
#    and the runtime stage needs nothing else; Alembic files ship inside the service package.
#    Whole member directories (tests and caches are in .dockerignore), so files a pyproject
#    may reference (readme, force-included data) are there.
COPY contracts contracts
COPY libs/servicekit libs/servicekit
COPY services/${SERVICE} services/${SERVICE}
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "${SERVICE}"

# ---- runtime: the same Python base with only the venv, running as an unprivileged user ----
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG PORT
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
# Owned by root: the app user can run the code but not change it.
COPY --from=builder /app/.venv /app/.venv
ENV SERVICE=${SERVICE} \
    PORT=${PORT} \
    PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
EXPOSE ${PORT}
# Slim images have no curl; /healthz is the liveness endpoint (readiness is /readyz).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'], timeout=4)"]
# exec: uvicorn is PID 1 and gets SIGTERM for a graceful stop. `<svc>-admin migrate` is run as a
# one-shot container of this image before the service starts (see docker-compose.yml).
# The same flags as the local run (tools/devstack): who is calling is servicekit's decision
# (TRUSTED_PROXIES), never uvicorn's; no `server` banner; the access log is servicekit's own
# (no query strings, no capability tokens).
CMD ["sh", "-c", "exec uvicorn \"${SERVICE}.entrypoints.http:app\" --host 0.0.0.0 --port \"${PORT}\" --no-proxy-headers --no-server-header --no-access-log"]
