# syntax=docker/dockerfile:1
# The ModelFleet operator image: `modelfleet run` (and `modelfleet fetch`, the weight download Job's
# command), as UID 65532, on python:3.11 slim.
#
#   docker build -t ghcr.io/modelfleet/modelfleet:0.1.0 .
#
# Both stages use one base image, so the virtualenv built in the first runs unchanged in the second
# (its bin/python points at the base image's /usr/local/bin/python3.11). The base is pinned to an
# exact Python release; for a reproducible build also pin its digest, e.g.
#   docker build --build-arg PYTHON_IMAGE=python:3.11.15-slim-trixie@sha256:<digest> .
# with the digest from `docker buildx imagetools inspect python:3.11.15-slim-trixie`.
ARG PYTHON_IMAGE=python:3.11.15-slim-trixie

# ---- builder: dependencies from the hashed lock file, then the package itself --------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The lock first: its layer survives source changes. --require-hashes refuses anything not in it.
COPY requirements.lock ./
RUN python -m venv /opt/modelfleet \
 && /opt/modelfleet/bin/pip install --no-deps --require-hashes -r requirements.lock
COPY pyproject.toml README.md* ./
COPY operator ./operator
# --no-build-isolation: build with the locked setuptools/wheel instead of fetching unpinned ones.
# The smoke checks import what `run` and `fetch` (the weight download Job) load, from the lock only.
RUN /opt/modelfleet/bin/pip install --no-deps --no-build-isolation . \
 && /opt/modelfleet/bin/modelfleet run --help > /dev/null \
 && /opt/modelfleet/bin/python -c "import modelfleet.cli.fetch_hub, modelfleet.cli.fetch_objects"

# ---- final: the virtualenv (the package carries its templates), nothing else ---------------------
FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="modelfleet" \
      org.opencontainers.image.description="Kubernetes operator for self-hosted LLM inference fleets" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# HOME is writable (/tmp is an emptyDir in the chart, whose root filesystem is read-only).
ENV PATH=/opt/modelfleet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=builder /opt/modelfleet /opt/modelfleet
# A numeric non-root user (the chart's runAsUser), so runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["modelfleet"]
CMD ["run"]
