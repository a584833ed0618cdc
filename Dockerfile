# One image for every role: the API (default command), the Celery worker and beat (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FINETUNER_VAR_DIR=/data/var \
    FINETUNER_STORAGE_DIR=/data/storage

WORKDIR /app

# Dependencies first, so a source change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p api core worker emulator finetuner migrations \
    && touch api/__init__.py core/__init__.py worker/__init__.py emulator/__init__.py finetuner/__init__.py \
       migrations/__init__.py \
    && pip install . \
    && pip uninstall -y finetuner

COPY alembic.ini ./
COPY api ./api
COPY core ./core
COPY worker ./worker
COPY emulator ./emulator
COPY finetuner ./finetuner
COPY migrations ./migrations
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 finetuner \
    && mkdir -p /data/var /data/storage \
    && chown -R finetuner /data

USER finetuner
EXPOSE 8000
# Migrations first, then serve (the worker and beat override the command).
CMD ["sh", "-c", "alembic upgrade head && exec uvicorn --factory api.app:create_app --host 0.0.0.0 --port 8000 --proxy-headers --timeout-graceful-shutdown 10"]
