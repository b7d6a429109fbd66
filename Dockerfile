# syntax=docker/dockerfile:1
# Build stage: install imagine-bot and its dependencies into a virtualenv.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN /opt/venv/bin/pip install .

# Run stage: only the virtualenv, as an unprivileged user. Secrets come from the environment
# (.env via compose), never from the image.
FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/imagine-bot.sqlite3
RUN useradd --create-home --uid 10001 imagine \
    && mkdir /data && chown imagine:imagine /data
COPY --from=build /opt/venv /opt/venv
USER imagine
WORKDIR /home/imagine
VOLUME ["/data"]
# Exec form: Python runs as PID 1 and gets SIGTERM directly, so it shuts down cleanly.
CMD ["python", "-m", "bot"]
