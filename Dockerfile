# waymond container image.
#
# The app is installed from its npm tarball, staged by the host in .container/ (the
# build context holds nothing else, see .dockerignore):
#
#   mkdir -p .container && npm pack --pack-destination .container
#   docker build -t waymond .                        # networked: npm fetches dependencies
#
# Where builds have no network (as in this project's CI, see .ci/container.sh), put an
# npm cache holding the dependencies in .container/npm-cache and pass a local base image:
#
#   docker build --network none --build-arg BASE_IMAGE=waymond-base/node:24-bookworm -t waymond .
#
# Run it with the config mounted read-only and the state in a volume:
#
#   docker run -d --name waymond -p 9460:9460 -e WAYMOND_TOKEN="$(openssl rand -hex 24)" \
#     -v "$PWD/waymond.toml:/etc/waymond/waymond.toml:ro" -v waymond-state:/var/lib/waymond waymond
#
# BASE_IMAGE: any Debian-based image with Node >= 22.13 and npm on PATH (node:24-bookworm-slim,
# node:22-bookworm-slim). tini is installed from Debian when the base lacks it.
ARG BASE_IMAGE=node:24-bookworm-slim

FROM ${BASE_IMAGE} AS install
COPY .container/ /stage/
# Install scripts stay off: every dependency with one has a pure-JS fallback (ssh2,
# msgpackr-extract) or only checks versions (protobufjs), and a build has no compiler.
RUN set -eu; \
    tarball=$(ls /stage/waymond-*.tgz); \
    mkdir -p /stage/npm-cache; \
    npm install --global --prefix /opt/waymond --cache /stage/npm-cache --prefer-offline \
      --ignore-scripts --no-audit --no-fund --no-update-notifier "$tarball"; \
    /opt/waymond/bin/waymond --version

FROM ${BASE_IMAGE}
RUN set -eu; \
    if ! command -v tini >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*; \
    fi; \
    groupadd --system waymond; \
    useradd --system --gid waymond --home-dir /var/lib/waymond --shell /usr/sbin/nologin waymond; \
    mkdir -p /etc/waymond /var/lib/waymond; \
    chown waymond:waymond /var/lib/waymond
ENV PATH=/opt/waymond/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_ENV=production \
    WAYMOND_LOG_FORMAT=json
# The state (SQLite decisions and members, member logs under scaler/<id>/) lives here.
VOLUME /var/lib/waymond
WORKDIR /var/lib/waymond
USER waymond
EXPOSE 9460
# /healthz answers as soon as the HTTP listener is up; the daemon must listen on 9460.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9460/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# tini is PID 1: it forwards SIGTERM to waymond (which stops its members as configured)
# and reaps the members' orphans.
ENTRYPOINT ["/usr/bin/tini", "--", "waymond"]
# The listener is reachable from outside the container, so the admin API needs a token:
# docker run -e WAYMOND_TOKEN=<a long random string> (waymond refuses to start without it).
CMD ["run", "--config", "/etc/waymond/waymond.toml", "--state", "/var/lib/waymond/state.db", "--http-host", "0.0.0.0", "--http-port", "9460", "--token-env", "WAYMOND_TOKEN"]
# Last: with a copy-on-write-less storage driver (vfs) every step copies the image so far,
# so the metadata steps above run on the small base, and the app comes in one layer.
COPY --from=install /opt/waymond /opt/waymond
