# madoguchi production image: web (gunicorn with uvicorn workers, the default CMD), Celery worker and beat all
# run from it (see docker-compose.yml). The counter-PC agent is not meant to run from this image.
#
#   docker build -t madoguchi .
#   docker run --rm -p 8000:8000 -e DJANGO_SECRET_KEY=... -e DATABASE_URL=... madoguchi
#
# Configuration comes only from environment variables, see .env.example.

# --- Stage 1: the source tree, minus local-only files ---------------------------------------------------
# Copies the build context and drops what must not reach the image (a host .venv would otherwise overwrite
# the image's own venv; var/ holds local databases, broker files, objects). Only the final stage ships.
FROM python:3.11-slim-bookworm AS source
COPY . /src
RUN rm -rf /src/.venv /src/.git /src/var /src/node_modules /src/.env \
    && find /src -depth \( -name __pycache__ -o -name .pytest_cache -o -name .mypy_cache -o -name .ruff_cache \) \
       -exec rm -rf {} + \
    && mkdir /src/var

# --- Stage 2: the runtime image ---------------------------------------------------------------------------
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    PATH=/app/.venv/bin:$PATH

# WeasyPrint's system libraries and the IPAmj Mincho font (MJ glyphs and IVS, see docs/domain.md); pg_dump and
# pg_restore for `manage.py backup` / `restore`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        fonts-ipamj-mincho \
        libharfbuzz-subset0 \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        gettext \
        postgresql-client \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# uv from PyPI (pinned; the version that wrote uv.lock).
ARG UV_VERSION=0.13.8
RUN pip install "uv==${UV_VERSION}"

WORKDIR /app

# Dependencies first, from the lock file only, so this layer is cached until pyproject.toml/uv.lock change.
# The project itself is not a package ([tool.uv] package = false): nothing else gets installed.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev

COPY --from=source /src/ /app/

# Static files are collected into the image (var/staticfiles, served by WhiteNoise). The secret key is a
# dummy set for this one command only: it is not baked into the image; set DJANGO_SECRET_KEY at run time.
RUN DJANGO_SECRET_KEY=collectstatic-build-only-dummy python manage.py collectstatic --noinput \
    && DJANGO_SECRET_KEY=build-only-dummy python manage.py compilemessages -v 0 --ignore '.venv/*' \
    && python -m madoguchi.moji.repertoire build

# Non-root user. The code stays root-owned (read-only for the app); only var/ (beat schedule, local
# fallbacks) is writable. A real home directory: gunicorn and fontconfig write small files under $HOME.
RUN groupadd --system --gid 10001 madoguchi \
    && useradd --system --uid 10001 --gid madoguchi --create-home --home-dir /home/madoguchi \
       --shell /usr/sbin/nologin madoguchi \
    && chown -R madoguchi:madoguchi /app/var
USER madoguchi

EXPOSE 8000

# ASGI: gunicorn with uvicorn workers, so each open server-sent-events stream (clerk screen, tablet) keeps no busy thread.
# Several worker processes need Redis for the push channel (MADOGUCHI_PUSH_URL, default REDIS_URL); without it set
# --workers 1. Open streams hold a worker on shutdown until the graceful timeout, inside compose's 10 s stop.
CMD ["gunicorn", "madoguchi.asgi:application", "--worker-class", "uvicorn_worker.UvicornWorker", "--workers", "3", "--graceful-timeout", "8", "--bind", "0.0.0.0:8000"]
