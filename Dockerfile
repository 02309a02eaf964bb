# One image for every Sentinel process: the API (`sentinel serve`), the workers (`sentinel worker`) and
# the migration job (`sentinel migrate`). See compose.yaml and docs/deploy.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY sentinel ./sentinel
COPY rubrics ./rubrics
COPY judges ./judges
# A regular (not editable) install: the rubrics and judges are packed into the wheel.
RUN pip install . && rm -rf /src

RUN useradd --create-home --uid 10001 sentinel \
    && mkdir -p /var/lib/sentinel/blobs \
    && chown -R sentinel:sentinel /var/lib/sentinel
USER sentinel
WORKDIR /home/sentinel

ENV SENTINEL_DATA_DIR=/var/lib/sentinel \
    SENTINEL_BLOB_DIR=/var/lib/sentinel/blobs \
    SENTINEL_HOST=0.0.0.0 \
    SENTINEL_LOG_FORMAT=json
VOLUME ["/var/lib/sentinel"]
EXPOSE 8000 9191

# `sentinel serve` finishes in-flight requests on SIGTERM (SENTINEL_SHUTDOWN_GRACE_SECONDS) and exits 0.
STOPSIGNAL SIGTERM
CMD ["sentinel", "serve", "--host", "0.0.0.0", "--port", "8000"]
