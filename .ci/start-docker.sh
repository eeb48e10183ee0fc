#!/usr/bin/env bash
# The docker test tier (*.docker.test.ts) needs a Docker engine with compose v2. A fresh CI machine
# has none and no systemd, so (docs/testing.md "How CI gets an engine"):
#
#   bash .ci/start-docker.sh start   an engine that already answers is used as it is; otherwise
#                                    docker.io and debootstrap are installed with apt, compose v2 and
#                                    buildx are taken from Debian trixie's packages into
#                                    /usr/local/lib/docker/cli-plugins/, and dockerd is started in
#                                    the background, its pid and the iptables rules from before kept
#   bash .ci/start-docker.sh stop    stops only a dockerd that `start` started (its pid), removes the
#                                    docker0 bridge and puts the iptables rules back as they were
#
# Where none of that is possible (not root, no apt), `start` says so and the tier is skipped with
# the reason printed; this script never fails the run.
set -uo pipefail

STATE="${CLAW_CI_DOCKER_STATE:-${TMPDIR:-/tmp}/clawfleet-ci-docker}"
PLUGINS=/usr/local/lib/docker/cli-plugins

say() { echo "docker: $*"; }
warn() { echo "docker: $*; the docker tests will be skipped" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

install_engine() {
  if command -v dockerd >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1; then return 0; fi
  say "installing docker.io and debootstrap with apt (about a minute)"
  apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
}

# Debian bookworm's docker-compose is v1 (1.29); trixie's docker-compose and docker-buildx packages
# ship v2 plugins that run here. Downloaded with apt into a private folder (a sources list and
# package lists of its own), so the machine's apt sources are left as they were.
install_compose_v2() {
  if docker compose version >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; then return 0; fi
  say "installing compose v2 and buildx from Debian trixie's packages"
  local work
  work="$(mktemp -d)"
  chmod 0755 "$work" # apt downloads as the _apt user
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
  echo "deb http://deb.debian.org/debian trixie main" >"$work/sources.list"
  local apt=(apt-get -qq -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
  if ! "${apt[@]}" update || ! (cd "$work/debs" && "${apt[@]}" download docker-compose docker-buildx); then
    rm -rf "$work"
    return 1
  fi
  mkdir -p "$PLUGINS" "$work/root"
  for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
  cp "$work"/root/usr/libexec/docker/cli-plugins/docker-* "$PLUGINS"/
  rm -rf "$work"
  docker compose version >/dev/null 2>&1
}

start() {
  if engine_answers; then
    say "an engine is running ($(docker version --format 'server {{.Server.Version}}' 2>/dev/null)); using it"
    install_compose_v2 || warn "compose v2 is missing and could not be installed"
    return 0
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    warn "no engine answers and none can be installed here (needs apt-get as root)"
    return 0
  fi
  install_engine || { warn "apt-get install docker.io debootstrap failed"; return 0; }
  install_compose_v2 || { warn "compose v2 could not be installed from Debian trixie"; return 0; }
  mkdir -p "$STATE"
  # What dockerd adds to iptables is put back at `stop` from this.
  iptables-save >"$STATE/iptables.before" 2>/dev/null || rm -f "$STATE/iptables.before"
  ip link show docker0 >/dev/null 2>&1 && touch "$STATE/bridge-existed"
  dockerd >"$STATE/dockerd.log" 2>&1 &
  echo $! >"$STATE/dockerd.pid"
  for _ in $(seq 1 60); do
    engine_answers && break
    kill -0 "$(cat "$STATE/dockerd.pid")" 2>/dev/null || break
    sleep 0.5
  done
  if engine_answers; then
    say "started dockerd (pid $(cat "$STATE/dockerd.pid"), $(docker version --format 'server {{.Server.Version}}'), log $STATE/dockerd.log)"
  else
    tail -n 5 "$STATE/dockerd.log" >&2
    warn "dockerd did not come up (log above)"
  fi
}

stop() {
  [ -f "$STATE/dockerd.pid" ] || { say "no engine was started by this script; nothing to stop"; return 0; }
  local pid
  pid="$(cat "$STATE/dockerd.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  [ -f "$STATE/bridge-existed" ] || ip link delete docker0 2>/dev/null
  [ -f "$STATE/iptables.before" ] && iptables-restore <"$STATE/iptables.before" 2>/dev/null
  rm -rf "$STATE"
  say "stopped dockerd (pid $pid), removed its bridge and iptables rules"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 64 ;;
esac
exit 0
