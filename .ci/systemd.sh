#!/usr/bin/env bash
# The real systemd the systemd scaler's tests run against: Debian's debootstrap and socat,
# a cached Debian 12 rootfs with systemd 252, imported into the Docker engine .ci/run
# started. Idempotent: does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKER_HOST=${DOCKER_HOST:-unix:///tmp/dockerd/docker.sock}
need=
for pkg in debootstrap socat openssh-client util-linux; do dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"; done
if [ -n "$need" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
test/peers/systemd/rootfs.sh
