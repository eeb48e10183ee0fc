#!/usr/bin/env bash
# Makes the base images Clawfleet's Dockerfiles build on where no image registry can be reached:
#
#   clawfleet/debian:bookworm-minbase  Debian bookworm from debootstrap --variant=minbase
#   clawfleet/node-base:20-bookworm    that, plus this machine's Node 20 laid out as in the public
#                                      node:20-bookworm-slim image (/usr/local/bin/node, npm,
#                                      headers in /usr/local/include/node)
#
# Then build with the base as a build argument (docs/containers.md):
#   docker compose -f compose.yaml -f compose.embedded.yaml build \
#     --build-arg BASE_IMAGE=clawfleet/node-base:20-bookworm
# or export CLAW_BASE_IMAGE=clawfleet/node-base:20-bookworm before `docker compose build`.
#
# Idempotent: an image that already exists is kept (--force makes both again). Needs root (for
# debootstrap), debootstrap, a running Docker engine, and Node 20 on this machine.
set -euo pipefail

DEBIAN_IMAGE="${CLAW_DEBIAN_IMAGE:-clawfleet/debian:bookworm-minbase}"
NODE_IMAGE="${CLAW_NODE_BASE_IMAGE:-clawfleet/node-base:20-bookworm}"
MIRROR="${CLAW_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
NODE_BINARY="${CLAW_HOST_NODE:-$(command -v node || true)}"
CA_BUNDLE="${CLAW_HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
FORCE=0

usage() {
  cat <<EOF
Usage: $0 [--force] [--print-name]

Makes ${DEBIAN_IMAGE} (debootstrap --variant=minbase bookworm) and ${NODE_IMAGE}
(the host's Node $(node --version 2>/dev/null || echo '20') on top), skipping an image that already exists.

  --force        make both images again even if they exist
  --print-name   print the Node base image's name and exit (for scripts)

Environment: CLAW_DEBIAN_IMAGE, CLAW_NODE_BASE_IMAGE (image names), CLAW_DEBIAN_MIRROR
(default ${MIRROR}), CLAW_HOST_NODE (default: node on PATH), CLAW_HOST_CA_BUNDLE
(default ${CA_BUNDLE}).
EOF
}

fail() {
  echo "make-offline-base: $1" >&2
  [ $# -lt 2 ] || echo "  Fix: $2" >&2
  exit "${3:-1}"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE=1 ;;
    --print-name) echo "$NODE_IMAGE"; exit 0 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; fail "unknown argument \`$1\`" "run with --help" 64 ;;
  esac
  shift
done

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

command -v docker >/dev/null || fail "docker is not installed" "install a Docker engine (Debian: apt-get install docker.io)" 69
docker info >/dev/null 2>&1 || fail "the Docker engine is not reachable ($(docker info 2>&1 | grep -m1 -i error || echo 'docker info failed'))" "start dockerd (or .ci/start-docker.sh) and run this again" 69

if [ "$FORCE" = 0 ] && image_exists "$DEBIAN_IMAGE" && image_exists "$NODE_IMAGE"; then
  echo "make-offline-base: ${DEBIAN_IMAGE} and ${NODE_IMAGE} exist; nothing to do (--force to make them again)"
  exit 0
fi

# --- the Debian base -----------------------------------------------------------------------------
if [ "$FORCE" = 1 ] || ! image_exists "$DEBIAN_IMAGE"; then
  [ "$(id -u)" = 0 ] || fail "debootstrap needs root (running as uid $(id -u))" "run this script as root (sudo $0)" 77
  command -v debootstrap >/dev/null || fail "debootstrap is not installed" "apt-get install -y --no-install-recommends debootstrap" 69
  root_dir="$(mktemp -d /var/tmp/clawfleet-debootstrap.XXXXXX)"
  trap 'rm -rf "$root_dir"' EXIT
  echo "make-offline-base: debootstrap --variant=minbase bookworm from ${MIRROR} (about a minute)"
  started=$SECONDS
  if ! debootstrap --variant=minbase bookworm "$root_dir" "$MIRROR" >"$root_dir.log" 2>&1; then
    tail -n 20 "$root_dir.log" >&2
    rm -f "$root_dir.log"
    fail "debootstrap failed (last lines above)" "check that ${MIRROR} is reachable (CLAW_DEBIAN_MIRROR names another mirror)"
  fi
  rm -f "$root_dir.log"
  # What a container image does not need: package caches, downloaded lists, docs, logs.
  rm -rf "$root_dir"/var/cache/apt/archives/*.deb "$root_dir"/var/lib/apt/lists/* \
    "$root_dir"/usr/share/doc/* "$root_dir"/usr/share/man/* "$root_dir"/var/log/*
  echo "deb ${MIRROR} bookworm main" >"$root_dir/etc/apt/sources.list"
  # apt in a build: no recommends, and no prompts.
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root_dir/etc/apt/apt.conf.d/90clawfleet"
  tar --numeric-owner -C "$root_dir" -c . |
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["bash"]' \
      --change 'LABEL org.opencontainers.image.description="Debian bookworm minbase made by clawfleet containers/make-offline-base.sh"' \
      - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$root_dir"
  trap - EXIT
  echo "make-offline-base: ${DEBIAN_IMAGE} made in $((SECONDS - started)) s"
else
  echo "make-offline-base: ${DEBIAN_IMAGE} exists"
fi

# --- Node on top ---------------------------------------------------------------------------------
if [ "$FORCE" = 0 ] && image_exists "$NODE_IMAGE"; then
  echo "make-offline-base: ${NODE_IMAGE} exists"
  exit 0
fi
[ -n "$NODE_BINARY" ] && [ -x "$NODE_BINARY" ] || fail "no node binary found" "install Node 20 or set CLAW_HOST_NODE" 69
node_version="$("$NODE_BINARY" --version)"
case "$node_version" in
  v20.*) ;;
  *) fail "the host's node is ${node_version}; the images need Node 20" "set CLAW_HOST_NODE to a Node 20 binary" 69 ;;
esac
node_prefix="$(cd "$(dirname "$(readlink -f "$NODE_BINARY")")/.." && pwd)"
npm_dir="${node_prefix}/lib/node_modules/npm"
headers_dir="${node_prefix}/include/node"
[ -f "$npm_dir/bin/npm-cli.js" ] || fail "npm not found at ${npm_dir}" "install npm beside node (${node_prefix}/lib/node_modules/npm)" 69
[ -f "$headers_dir/node.h" ] || fail "Node headers not found at ${headers_dir} (native modules compile against them)" "install the Node package with its headers (nodesource nodejs ships /usr/include/node)" 69
[ -f "$CA_BUNDLE" ] || fail "no CA bundle at ${CA_BUNDLE} (npm in a build needs it)" "set CLAW_HOST_CA_BUNDLE" 69

context="$(mktemp -d /var/tmp/clawfleet-node-base.XXXXXX)"
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/usr/local/bin" "$context/usr/local/lib/node_modules" "$context/usr/local/include" \
  "$context/usr/local/share/clawfleet"
cp "$(readlink -f "$NODE_BINARY")" "$context/usr/local/bin/node"
cp -a "$npm_dir" "$context/usr/local/lib/node_modules/npm"
cp -a "$headers_dir" "$context/usr/local/include/node"
cp "$CA_BUNDLE" "$context/usr/local/share/clawfleet/host-ca-certificates.crt"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$context/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$context/usr/local/bin/npx"
cat >"$context/Dockerfile" <<EOF
FROM ${DEBIAN_IMAGE}
COPY usr/ /usr/
# The host's CA bundle: npm and node trust what this machine trusts (a registry behind an
# intercepting proxy included). The public node image relies on Node's built-in CAs instead.
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/clawfleet/host-ca-certificates.crt \\
    NODE_VERSION=${node_version#v}
LABEL org.opencontainers.image.description="Node ${node_version} on Debian bookworm minbase, made by clawfleet containers/make-offline-base.sh"
RUN node --version && npm --version
CMD ["node"]
EOF
echo "make-offline-base: building ${NODE_IMAGE} from ${DEBIAN_IMAGE} and node ${node_version} (${node_prefix})"
started=$SECONDS
docker build --quiet --tag "$NODE_IMAGE" "$context" >/dev/null
echo "make-offline-base: ${NODE_IMAGE} made in $((SECONDS - started)) s; build with --build-arg BASE_IMAGE=${NODE_IMAGE}"
