# Build stage: install imagine-bot and its dependencies into a virtualenv.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies only from the lock (exact versions, every file checked against its hash), so two
# builds months apart install the same thing. This layer is rebuilt only when the lock changes.
# Refresh the lock with scripts/lock after changing pyproject.toml's dependencies.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock
# Then the project itself, without resolving anything; pip check fails the build if pyproject.toml
# needs a package the lock lacks (a lock not refreshed after adding a dependency).
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN /opt/venv/bin/pip install --no-deps . && /opt/venv/bin/pip check

# Run stage: only the virtualenv, as an unprivileged user. Secrets come from the environment
# (.env via compose or docker run --env-file), never from the image.
FROM python:3.11-slim AS runtime
# HTTP_HOST=0.0.0.0: the health and metrics server must listen beyond the container's own loopback
# for a published port to reach it (compose publishes it on the host's 127.0.0.1 only).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/imagine-bot.sqlite3 \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080
RUN useradd --create-home --uid 10001 imagine \
    && mkdir /data && chown imagine:imagine /data
COPY --from=build /opt/venv /opt/venv
USER imagine
# Working directory /: a relative DATABASE_URL such as .env.example's sqlite:///data/... (read by
# docker run --env-file .env) then means /data/..., the same file in the volume as the default.
WORKDIR /
VOLUME ["/data"]
EXPOSE 8080
# Liveness from inside the container with the stdlib (the slim image has no curl): any answer but
# 2xx, a refused connection or no answer within 4 s exits non-zero. HTTP_PORT as the bot reads it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + (os.environ.get('HTTP_PORT', '').strip() or '8080') + '/livez', timeout=4)"]
# Exec form: Python runs as PID 1 and gets SIGTERM directly, so it shuts down cleanly.
CMD ["python", "-m", "bot"]
