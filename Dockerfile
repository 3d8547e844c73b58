# ductile gateway image. Build: docker build -t ductile .   Run: see docs/DEPLOYMENT.md#docker
# Plugins and config are mounted, not baked in: the same image runs any installation.
FROM python:3.11-slim

# bash and ca-certificates: most plugins are bash or Python scripts that call HTTPS APIs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bash ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/ductile
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/ductile/.venv \
 && /opt/ductile/.venv/bin/pip install --no-cache-dir . \
 && useradd --system --home-dir /var/lib/ductile --shell /usr/sbin/nologin ductile \
 && mkdir -p /etc/ductile /var/lib/ductile /plugins \
 && chown ductile:ductile /var/lib/ductile

ENV PATH=/opt/ductile/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1
USER ductile
VOLUME ["/var/lib/ductile"]
EXPOSE 8080
# tini reaps orphans and forwards SIGTERM so the gateway can drain running jobs (docker stop -t 60).
ENTRYPOINT ["/usr/bin/tini", "--", "ductile"]
CMD ["system", "start", "--config", "/etc/ductile"]
