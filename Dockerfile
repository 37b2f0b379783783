# The hub's image: the wheel (README "Installing"), nothing of the source tree, run as a user that
# is not root. One image for every role: the command chooses (serve, worker, relay, scheduled …).
# Build from the repository's root: docker build -t appeals-gateway .

# --- build: the wheel and the wheels of its dependencies --------------------------------------
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY gateway gateway
COPY connectors connectors
COPY schemas schemas
COPY deploy/agencies.example.yaml deploy/agencies.example.yaml
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- run: a venv with the wheel, owned by root, run by an unprivileged user -------------------
FROM python:3.11-slim-bookworm
COPY --from=build /wheels /wheels
RUN python -m venv /opt/appeals-gateway \
    && /opt/appeals-gateway/bin/pip install --no-cache-dir --no-index --find-links=/wheels appeals-gateway \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin gateway \
    && mkdir -p /var/lib/appeals-gateway /run/appeals-gateway/metrics \
    && chown gateway /var/lib/appeals-gateway /run/appeals-gateway/metrics
ENV PATH=/opt/appeals-gateway/bin:$PATH \
    GATEWAY_DATA_DIR=/var/lib/appeals-gateway \
    GATEWAY_LOG_FORMAT=json \
    PROMETHEUS_MULTIPROC_DIR=/run/appeals-gateway/metrics
USER 10001:10001
WORKDIR /var/lib/appeals-gateway
EXPOSE 8080
# Live, not ready: a hub whose database is away must not be restarted for it (it recovers).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/health/live', timeout=2).status != 200)"]
ENTRYPOINT ["appeals-gateway"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
