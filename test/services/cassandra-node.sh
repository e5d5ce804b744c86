#!/usr/bin/env bash
# One real Cassandra node for the tests, kept in a directory of its own.
#
# Usage: test/services/cassandra-node.sh create DIR --home CASSANDRA_HOME
#            [--address 127.0.0.1] [--jmx-port 7199] [--native-port 9042]
#            [--storage-port 7000] [--cluster-name NAME] [--auth password|none]
#            [--heap 256M] [--data-dirs N] [--set key=value]...
#        test/services/cassandra-node.sh start|stop|kill|status DIR
#
#   create  DIR/conf (a copy of CASSANDRA_HOME/conf whose cassandra.yaml names
#           this node's address, ports, cluster name, authenticator and
#           directories, its own address as its only seed), DIR/data (or
#           data1..dataN), commitlog, saved_caches, hints, cdc_raw, logs, and
#           DIR/node.env. Refuses an existing DIR.
#   start   Starts the node and returns once its system.log says "Startup
#           complete" (exit 0; also when it already runs). When the JVM exits
#           first, prints its last ERROR line and the lines after it and exits 1:
#           the agent quotes a failed start command's output.
#   stop    SIGTERM (Cassandra flushes and closes), SIGKILL after 60 s; exit 0
#           once the process is gone, also when it was not running.
#   kill    SIGKILL at once (a crash, for the crash tests).
#   status  Exit 0 exactly when the node's JVM runs.
#
# start, stop and status are what an agent configuration names as its
# service_*_command. Loopback addresses only. JMX listens on 127.0.0.1
# whatever the node's address: nodes of one machine need their own JMX port.
# Needs bash, coreutils, a Java runtime for the Cassandra given, and node with
# this repository's node_modules (cassandra.yaml is edited with js-yaml).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
START_TIMEOUT=${CASSANDRA_START_TIMEOUT:-240}
STOP_TIMEOUT=60

die() { echo "cassandra-node: $*" >&2; exit 1; }
usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

running_pid() { # prints the pid when the node's JVM runs
  local pidf=$1/cassandra.pid pid
  [ -s "$pidf" ] || return 1
  pid=$(cat "$pidf")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

create() {
  local dir=$1; shift
  local home="" address=127.0.0.1 jmx=7199 native=9042 storage=7000 cluster="" auth=password heap=256M ndirs=1 sets=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --home) home=$2; shift 2 ;;
      --address) address=$2; shift 2 ;;
      --jmx-port) jmx=$2; shift 2 ;;
      --native-port) native=$2; shift 2 ;;
      --storage-port) storage=$2; shift 2 ;;
      --cluster-name) cluster=$2; shift 2 ;;
      --auth) auth=$2; shift 2 ;;
      --heap) heap=$2; shift 2 ;;
      --data-dirs) ndirs=$2; shift 2 ;;
      --set) sets+=("$2"); shift 2 ;;
      *) die "create: unknown option $1" ;;
    esac
  done
  [ -x "$home/bin/cassandra" ] || die "create: --home $home has no bin/cassandra"
  case "$address" in 127.*) ;; *) die "create: $address is not a loopback address" ;; esac
  [ ! -e "$dir" ] || die "create: $dir exists"
  mkdir -p "$dir"/{commitlog,saved_caches,hints,cdc_raw,logs}
  local data_dirs=()
  if [ "$ndirs" = 1 ]; then data_dirs=("$dir/data"); else for i in $(seq 1 "$ndirs"); do data_dirs+=("$dir/data$i"); done; fi
  mkdir -p "${data_dirs[@]}"
  cp -a "$home/conf" "$dir/conf"
  # cassandra-env.sh hard-codes JMX_PORT="7199": let node.env choose it.
  sed -i 's/^JMX_PORT="7199"$/JMX_PORT="${JMX_PORT:-7199}"/' "$dir/conf/cassandra-env.sh"
  grep -q 'JMX_PORT="${JMX_PORT:-7199}"' "$dir/conf/cassandra-env.sh" || die "create: JMX_PORT not found in $home/conf/cassandra-env.sh"
  local authenticator=PasswordAuthenticator authorizer=CassandraAuthorizer
  [ "$auth" = password ] || { authenticator=AllowAllAuthenticator; authorizer=AllowAllAuthorizer; }
  NODE_DIR=$dir ADDRESS=$address STORAGE_PORT=$storage NATIVE_PORT=$native CLUSTER=${cluster:-$(basename "$dir")} \
    AUTHENTICATOR=$authenticator AUTHORIZER=$authorizer DATA_DIRS="${data_dirs[*]}" REPO=$repo \
    node --input-type=module - "${sets[@]+"${sets[@]}"}" <<'JS'
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
const require = createRequire(process.env.REPO + '/package.json');
const yaml = require('js-yaml');
const e = process.env;
const file = `${e.NODE_DIR}/conf/cassandra.yaml`;
const conf = yaml.load(readFileSync(file, 'utf8'));
Object.assign(conf, {
  cluster_name: e.CLUSTER,
  listen_address: e.ADDRESS,
  rpc_address: e.ADDRESS,
  storage_port: Number(e.STORAGE_PORT),
  ssl_storage_port: Number(e.STORAGE_PORT) + 1,
  native_transport_port: Number(e.NATIVE_PORT),
  authenticator: e.AUTHENTICATOR,
  authorizer: e.AUTHORIZER,
  data_file_directories: e.DATA_DIRS.split(' '),
  commitlog_directory: `${e.NODE_DIR}/commitlog`,
  saved_caches_directory: `${e.NODE_DIR}/saved_caches`,
  hints_directory: `${e.NODE_DIR}/hints`,
  cdc_raw_directory: `${e.NODE_DIR}/cdc_raw`,
  seed_provider: [{ class_name: 'org.apache.cassandra.locator.SimpleSeedProvider', parameters: [{ seeds: `${e.ADDRESS}:${e.STORAGE_PORT}` }] }],
});
for (const kv of process.argv.slice(2)) {
  const at = kv.indexOf('=');
  if (at < 1) throw new Error(`--set ${kv}: expected key=value`);
  conf[kv.slice(0, at)] = yaml.load(kv.slice(at + 1));
}
writeFileSync(file, yaml.dump(conf, { lineWidth: -1 }));
JS
  cat > "$dir/node.env" <<ENV
export CASSANDRA_HOME=$home
export CASSANDRA_CONF=$dir/conf
export CASSANDRA_LOG_DIR=$dir/logs
export JMX_PORT=$jmx
export MAX_HEAP_SIZE=$heap
export HEAP_NEWSIZE=64M
# Test settings for single nodes: no wait for gossip to settle, a ring delay of
# 1 s instead of 30 s, the default superuser made 1 s after start instead of 10 s.
export JVM_EXTRA_OPTS="-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=1000 -Dcassandra.superuser_setup_delay_ms=1000"
ENV
}

start() {
  local dir=$1 pid from t0 deadline
  [ -f "$dir/node.env" ] || die "start: $dir has no node.env (run create first)"
  # shellcheck disable=SC1091
  . "$dir/node.env"
  if pid=$(running_pid "$dir"); then echo "cassandra-node: $dir already runs (pid $pid)" >&2; return 0; fi
  rm -f "$dir/cassandra.pid"
  touch "$dir/logs/system.log"
  from=$(( $(wc -l < "$dir/logs/system.log") + 1 ))
  t0=$(now_ms)
  setsid "$CASSANDRA_HOME/bin/cassandra" -R -p "$dir/cassandra.pid" >> "$dir/logs/stdout.log" 2>&1 < /dev/null
  for _ in $(seq 1 100); do [ -s "$dir/cassandra.pid" ] && break; sleep 0.1; done
  pid=$(cat "$dir/cassandra.pid" 2>/dev/null) || die "start: no pid file after 10 s; see $dir/logs/stdout.log"
  deadline=$(( $(date +%s) + START_TIMEOUT ))
  while :; do
    if tail -n +"$from" "$dir/logs/system.log" | grep -q "Startup complete"; then
      echo "cassandra-node: $(basename "$dir") (pid $pid) started in $(( ($(now_ms) - t0) / 100 ))00 ms" >&2
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$dir/cassandra.pid"
      echo "cassandra-node: $(basename "$dir") (pid $pid) exited before 'Startup complete'; from $dir/logs/system.log:" >&2
      tail -n +"$from" "$dir/logs/system.log" | awk '/^ERROR/ { n = 0; keep = 1 } keep && n < 8 { line[n++] = $0 } END { for (i = 0; i < n; i++) print line[i] }' >&2
      exit 1
    fi
    [ "$(date +%s)" -lt "$deadline" ] || die "start: no 'Startup complete' after $START_TIMEOUT s (pid $pid still running; see $dir/logs/system.log)"
    sleep 0.2
  done
}

stop() {
  local dir=$1 pid
  pid=$(running_pid "$dir") || { rm -f "$dir/cassandra.pid"; return 0; }
  kill -TERM "$pid"
  for _ in $(seq 1 $(( STOP_TIMEOUT * 5 ))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/cassandra.pid"; return 0; }
    sleep 0.2
  done
  echo "cassandra-node: pid $pid still runs after $STOP_TIMEOUT s: SIGKILL" >&2
  kill_node "$dir"
}

kill_node() {
  local dir=$1 pid
  pid=$(running_pid "$dir") || return 0
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$dir/cassandra.pid"
}

case "${1:-}" in
  create) [ $# -ge 2 ] || { usage >&2; exit 2; }; shift; create "$@" ;;
  start) [ $# -eq 2 ] || { usage >&2; exit 2; }; start "$2" ;;
  stop) [ $# -eq 2 ] || { usage >&2; exit 2; }; stop "$2" ;;
  kill) [ $# -eq 2 ] || { usage >&2; exit 2; }; kill_node "$2" ;;
  status) [ $# -eq 2 ] || { usage >&2; exit 2; }; running_pid "$2" >/dev/null ;;
  -h|--help) usage ;;
  *) usage >&2; exit 2 ;;
esac
