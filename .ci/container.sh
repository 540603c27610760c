#!/usr/bin/env bash
# Builds the waymond container image without a registry (issue 10). Idempotent.
#
# 1. A base image `waymond-base/node:24-bookworm`: a Debian bookworm rootfs from
#    debootstrap (with tini and ca-certificates), plus the Node 24 binary from the npm
#    `node` package and the machine's npm, `docker import`ed. The rootfs is cached under
#    /var/cache/waymond between runs; the image is rebuilt only when it is missing.
# 2. The app staged on the host, since container builds have no network here: `npm pack`
#    (prepack builds dist/) and an npm cache holding every production dependency, both
#    under .container/ in the build context. The Dockerfile installs the tarball from that
#    cache; with an empty cache (a normal, networked build) npm fetches from the registry.
# 3. `docker build --network none --build-arg BASE_IMAGE=waymond-base/node:24-bookworm`
#    -> waymond:<version> and waymond:test.
#
# Needs: DOCKER_HOST pointing at a running engine, Node 24 on PATH, root (debootstrap).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\n==> %s\n' "$*"; }

CACHE=${WAYMOND_CONTAINER_CACHE:-/var/cache/waymond}
BASE_IMAGE=${WAYMOND_BASE_IMAGE:-waymond-base/node:24-bookworm}
SUITE=bookworm
MIRROR=${WAYMOND_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$CACHE"

# --- 1. the base image ---
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  rootfs="$CACHE/rootfs-$SUITE"
  if [ ! -f "$rootfs/.complete" ]; then
    dpkg -s debootstrap >/dev/null 2>&1 || { log "apt-get install debootstrap"; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
    log "debootstrap $SUITE into $rootfs"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=tini,ca-certificates "$SUITE" "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
    # What a slim image drops: apt lists, caches, docs and man pages.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
      "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    touch "$rootfs/.complete"
  fi
  node_bin=$(readlink -f "$(command -v node)")
  "$node_bin" --version | grep -q '^v24\.' || { echo "container.sh: node on PATH is not Node 24 ($node_bin)" >&2; exit 1; }
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  [ -f "$npm_dir/package.json" ] || npm_dir=/usr/lib/node_modules/npm
  log "importing $BASE_IMAGE (node $("$node_bin" --version), npm from $npm_dir)"
  overlay=$(mktemp -d)
  trap 'rm -rf "$overlay"' EXIT
  # /usr/local comes from the overlay (the rootfs's own, plus node and npm): one tar, no
  # path twice (the engine refuses duplicates in a layer).
  mkdir -p "$overlay/usr"
  cp -a "$rootfs/usr/local" "$overlay/usr/"
  mkdir -p "$overlay/usr/local/bin" "$overlay/usr/local/lib/node_modules"
  cp "$node_bin" "$overlay/usr/local/bin/node"
  cp -r "$npm_dir" "$overlay/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$overlay/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$overlay/usr/local/bin/npx"
  tar -C "$rootfs" --exclude=./.complete --exclude=./usr/local -cf "$overlay.tar" .
  tar -C "$overlay" -rf "$overlay.tar" ./usr/local
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' \
    "$overlay.tar" "$BASE_IMAGE" >/dev/null
  rm -f "$overlay.tar"
fi

# --- 2. the app, staged on the host ---
version=$(node -p 'require("./package.json").version')
log "staging waymond $version in .container/"
rm -rf .container/*.tgz
mkdir -p .container "$CACHE/npm-cache"
npm pack --silent --pack-destination .container >/dev/null
tarball=".container/waymond-$version.tgz"
# npm pack is reproducible: the same sources give the same tarball, and an image already
# built from it (on the same base) is kept instead of built again.
# One label says which tarball, Dockerfile and base image it was built from.
build_id="$(cat "$tarball" Dockerfile | sha256sum | cut -c1-64) $(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")"
if [ "$(docker image inspect -f '{{ index .Config.Labels "waymond.build" }}' waymond:test 2>/dev/null)" = "$build_id" ]; then
  log "waymond:test is already built from this tarball and base; not rebuilt"
  exit 0
fi
# Fill the cache with the production dependencies (from npm's cache or the registry),
# then hand the build a copy of it: the build context must hold it.
scratch=$(mktemp -d)
npm install --global --prefix "$scratch" --cache "$CACHE/npm-cache" --prefer-offline \
  --no-audit --no-fund --ignore-scripts "./$tarball" >/dev/null
rm -rf "$scratch" .container/npm-cache
cp -r "$CACHE/npm-cache" .container/npm-cache

# --- 3. the image ---
log "docker build waymond:$version (base $BASE_IMAGE, no network)"
start=$(date +%s)
docker build --network none --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  --label "waymond.build=$build_id" \
  -t "waymond:$version" -t waymond:test . >"$CACHE/build.log" 2>&1 \
  || { tail -30 "$CACHE/build.log" >&2; exit 1; }
rm -rf .container/npm-cache
# The image it replaces (now untagged) would otherwise stay, ~365 MB each on vfs.
docker image prune -f --filter "label=waymond.build" >/dev/null
log "built waymond:$version in $(( $(date +%s) - start )) s, $(docker image inspect -f '{{.Size}}' waymond:test | awk '{printf "%.0f MB", $1/1e6}')"
