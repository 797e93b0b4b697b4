# One image for web, worker and beat; docker-compose.yml picks the command.

# Front-end libraries come from npm (package-lock.json), never from a CDN.
FROM node:20-slim AS static
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/vendor_static.sh scripts/
RUN bash scripts/vendor_static.sh

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Set to a CPU-only wheel index at build time to avoid pulling a CUDA build of torch.
ARG PIP_EXTRA_INDEX_URL=""
WORKDIR /app

RUN useradd --create-home --uid 1000 vicino
COPY pyproject.toml README.md ./
RUN pip install --no-cache-dir .
COPY . .
COPY --from=static /src/static/vendor static/vendor
RUN SECRET_KEY=build-only DATABASE_URL=sqlite:////tmp/build.sqlite3 python manage.py collectstatic --no-input -v 0 \
    && mkdir -p var && chown -R vicino /app
USER vicino
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
