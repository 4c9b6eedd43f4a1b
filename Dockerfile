# The Amber-Home app image: one image for every service of compose.yaml (migrate, backfill, loader,
# exporter, simulator), each running one `amber-home` subcommand. linux/amd64 and linux/arm64 (64-bit
# only): nothing below downloads an architecture-specific file (uv and every dependency come from PyPI as
# wheels for the building machine), and psycopg-binary publishes no wheels for 32-bit ARM (linux/arm/v7),
# so the image cannot be built there. The test command builds it for linux/arm64 under emulation
# (scripts/engine arm64).
#
#   docker build -t amber-home:local .          (compose.yaml builds it on `docker compose up`)
#   docker run --rm amber-home:local --help
#
# Layout inside the image: the project in /app (sql/ next to loader/, where loader/migrate.py's SQL_DIR
# looks for it), its virtual environment in /app/.venv, installed editable so the code runs from /app.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# uv from its PyPI wheel (no second registry image); only the build stage has it.
RUN pip install --no-cache-dir --root-user-action=ignore "uv>=0.5,<1"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first, so a code change rebuilds only the last layers. Exactly the versions of the
# committed uv.lock (--locked fails the build if pyproject.toml changed without `uv lock`), so two builds
# a month apart install the same packages.
COPY pyproject.toml README.md uv.lock ./
RUN uv sync --locked --no-dev --no-install-project
COPY amber/ amber/
COPY runtime/ runtime/
COPY amber_home/ amber_home/
COPY maintenance/ maintenance/
COPY loader/ loader/
COPY exporter/ exporter/
COPY simulator/ simulator/
COPY sql/ sql/
COPY scripts/lib/compose-secrets.sh scripts/lib/compose-secrets.sh
RUN uv sync --locked --no-dev

FROM ${PYTHON_IMAGE}
# A fixed non-root uid, so volume ownership is the same on every machine.
RUN groupadd --system --gid 10001 amber \
    && useradd --system --uid 10001 --gid amber --home-dir /app --no-create-home --shell /usr/sbin/nologin amber
COPY --from=build --chown=root:root /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
ENTRYPOINT ["amber-home"]
CMD ["--help"]
