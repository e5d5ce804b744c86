#!/usr/bin/env bash
# Real Apache Cassandra 4.0 nodes on 127.0.0.1..N for the tests.
#
# Usage: test/services/cassandra.sh install|up [--nodes N]|down|status
#
#   install  Finds a Cassandra 4.0 and a Java runtime for it; prints
#            CASSANDRA_HOME=<dir> on stdout. Where Cassandra comes from, in order:
#              - $CASSANDRA_HOME, an installed Cassandra (bin/cassandra, conf/);
#              - $CASSANDRA_TARBALL, a binary tarball (Apache's own
#                apache-cassandra-4.0.x-bin.tar.gz, or the project's build);
#              - ../shared/cassandra/real-cassandra-4.0.tar.gz beside the repository.
#            A tarball is unpacked once into $CASSANDRA_STATE_DIR/home-<sha256
#            prefix> (checked by its sha256). Installs Debian's
#            openjdk-17-jre-headless when there is no java (needs root).
#   up       install, then create and start N single-node clusters (default 1)
#            on 127.0.0.1..127.0.0.N (JMX on 127.0.0.1:7199, 7299, ...; CQL on
#            <address>:9042; superuser cassandra/cassandra), and wait until
#            each answers `nodetool status` with UN. Nodes that already run are
#            left as they are.
#   down     Stops the nodes that `up` made (their directories stay; --purge
#            removes them).
#   status   Exit 0 when every node `up` made runs.
#
# State lives under ${CASSANDRA_STATE_DIR:-/var/tmp/cga-cassandra}. The test
# suites (npm run test:cassandra) call `install` and make their own nodes with
# test/services/cassandra-node.sh in temporary directories.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
STATE_DIR=${CASSANDRA_STATE_DIR:-/var/tmp/cga-cassandra}
NODES_DIR=$STATE_DIR/nodes
DEFAULT_TARBALL=$repo/../shared/cassandra/real-cassandra-4.0.tar.gz

log() { printf 'cassandra: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

ensure_java() {
  command -v java >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "no java on PATH and not root: install a Java runtime for Cassandra 4.0 (Debian: apt-get install openjdk-17-jre-headless)"
  log "installing openjdk-17-jre-headless (Debian) ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
  command -v java >/dev/null || die "openjdk-17-jre-headless installed but java is not on PATH"
}

# The Cassandra home of an unpacked tarball: the directory holding bin/cassandra.
home_in() { find "$1" -maxdepth 3 -path '*/bin/cassandra' -type f 2>/dev/null | head -n 1 | xargs -r dirname | xargs -r dirname; }

find_home() {
  if [ -n "${CASSANDRA_HOME:-}" ]; then
    [ -x "$CASSANDRA_HOME/bin/cassandra" ] && [ -d "$CASSANDRA_HOME/conf" ] ||
      die "CASSANDRA_HOME=$CASSANDRA_HOME has no bin/cassandra and conf/: point it at a Cassandra 4.0 installation"
    echo "$CASSANDRA_HOME"; return
  fi
  local tarball=${CASSANDRA_TARBALL:-$DEFAULT_TARBALL}
  [ -f "$tarball" ] || die "no Cassandra found: set CASSANDRA_HOME to a Cassandra 4.0 installation, or CASSANDRA_TARBALL to a binary tarball (Apache's apache-cassandra-4.0.x-bin.tar.gz), or put shared/cassandra/real-cassandra-4.0.tar.gz beside the repository (looked for $tarball)"
  local sum dir home
  sum=$(sha256sum "$tarball" | cut -d' ' -f1)
  dir=$STATE_DIR/home-${sum:0:16}
  if [ "$(cat "$dir/.tarball-sha256" 2>/dev/null)" != "$sum" ]; then
    log "unpacking $tarball into $dir"
    rm -rf "$dir"; mkdir -p "$dir"
    tar -xzf "$tarball" -C "$dir"
    echo "$sum" > "$dir/.tarball-sha256"
  fi
  home=$(home_in "$dir")
  [ -n "$home" ] || die "$tarball holds no bin/cassandra"
  echo "$home"
}

install() {
  ensure_java
  local home
  home=$(find_home)
  echo "CASSANDRA_HOME=$home"
}

node_names() { [ -d "$NODES_DIR" ] && find "$NODES_DIR" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort; }

up() {
  local n=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) n=$2; shift 2 ;;
      *) die "up: unknown option $1" ;;
    esac
  done
  local home
  home=$(install | sed -n 's/^CASSANDRA_HOME=//p')
  mkdir -p "$NODES_DIR"
  for i in $(seq 1 "$n"); do
    local dir=$NODES_DIR/n$i jmx=$(( 7099 + i * 100 ))
    [ -d "$dir" ] || bash "$here/cassandra-node.sh" create "$dir" --home "$home" --address "127.0.0.$i" --jmx-port "$jmx" --cluster-name "cluster-n$i"
    bash "$here/cassandra-node.sh" start "$dir"
    for _ in $(seq 1 60); do
      "$home/bin/nodetool" -h 127.0.0.1 -p "$jmx" status 2>/dev/null | grep -q "^UN  127.0.0.$i " && break
      sleep 1
    done
    "$home/bin/nodetool" -h 127.0.0.1 -p "$jmx" status 2>/dev/null | grep -q "^UN  127.0.0.$i " || die "n$i does not show UN in nodetool status"
    echo "NODE=n$i ADDRESS=127.0.0.$i CQL=127.0.0.$i:9042 JMX=127.0.0.1:$jmx DIR=$dir"
  done
}

down() {
  local name
  for name in $(node_names); do bash "$here/cassandra-node.sh" stop "$NODES_DIR/$name"; done
  [ "${1:-}" = --purge ] && rm -rf "$NODES_DIR"
  return 0
}

status() {
  local name any=1
  for name in $(node_names); do
    any=0
    bash "$here/cassandra-node.sh" status "$NODES_DIR/$name" || { log "$name is not running"; return 1; }
  done
  return $any
}

case "${1:-}" in
  install) install ;;
  up) shift; up "$@" ;;
  down) shift; down "$@" ;;
  status) status ;;
  -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
