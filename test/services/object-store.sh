#!/usr/bin/env bash
# A single-node OpenStack Swift (tempauth + s3api) on 127.0.0.1 for the tests.
#
# Usage: test/services/object-store.sh up|down [--purge]|status
#
#   up      Install the Debian packages if missing, build the rings, write the
#           configs and start memcached (if nothing listens on 127.0.0.1:11211)
#           and the account, container, object and proxy servers in the
#           background; wait until an authenticated PUT works. Idempotent: if
#           the store is already up and healthy it starts nothing. Progress goes
#           to stderr; the connection facts go to stdout as KEY=VALUE lines.
#           On failure it prints the last log lines, stops what it started
#           and exits 1 (OBJECT_STORE_READY_TIMEOUT, default 60 s).
#   down    Stop the processes that `up` started (pid files only), keep the data.
#           --purge also removes the state directory.
#   status  Exit 0 with one line if an authenticated request works, 1 otherwise.
#
# All state (configs, rings, device directory, logs, pid files) lives under
# ${OBJECT_STORE_DIR:-/tmp/cga-object-store}. Needs root (apt-get, servers run
# as root). Swift always reads /etc/swift/swift.conf: created if absent.

set -euo pipefail

STATE_DIR=${OBJECT_STORE_DIR:-/tmp/cga-object-store}
ETC_DIR=$STATE_DIR/etc
DEV_DIR=$STATE_DIR/srv
LOG_DIR=$STATE_DIR/log
RUN_DIR=$STATE_DIR/run
CACHE_DIR=$STATE_DIR/cache

HOST=127.0.0.1
PROXY_PORT=8080
MEMCACHED_PORT=11211
PROXY_URL=http://$HOST:$PROXY_PORT
AUTH_URL=$PROXY_URL/auth/v1.0
USER_NAME=test:tester
USER_KEY=testing
READY_TIMEOUT=${OBJECT_STORE_READY_TIMEOUT:-60}
STOP_TIMEOUT=10
SERVERS=(account-server container-server object-server proxy-server)
PACKAGES=(swift swift-proxy swift-account swift-container swift-object
  python3-swiftclient memcached awscli)

log() { printf 'object-store: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

server_port() {
  case ${1%-server} in
    object) echo 6200 ;;
    container) echo 6201 ;;
    account) echo 6202 ;;
    proxy) echo "$PROXY_PORT" ;;
    *) return 1 ;;
  esac
}

# ---------------------------------------------------------------- processes

# "STATE STARTTIME" of a pid from /proc/PID/stat (the command name may hold
# spaces and parentheses: cut after the last ')').
proc_state_start() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  # shellcheck disable=SC2086  # word splitting wanted
  set -- $rest
  # fields after the command: 1=state ... 20=starttime
  printf '%s %s\n' "$1" "${20}"
}

# A pid file holds "PID STARTTIME"; it is ours and alive if that process still
# exists with the same start time (not a reused pid) and is not a zombie.
pidfile_alive() {
  local file=$1 pid start state now
  [[ -r $file ]] || return 1
  read -r pid start <"$file" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  read -r state now < <(proc_state_start "$pid") || return 1
  [[ $now == "$start" && $state != Z ]]
}

pidfile_pid() { local pid _rest; read -r pid _rest <"$1"; echo "$pid"; }

stop_pidfile() {
  local file=$1 name pid i
  name=$(basename "$file" .pid)
  if pidfile_alive "$file"; then
    pid=$(pidfile_pid "$file")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
      pidfile_alive "$file" || break
      sleep 0.1
    done
    if pidfile_alive "$file"; then
      log "$name did not stop within ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        pidfile_alive "$file" || break
        sleep 0.1
      done
    fi
  fi
  rm -f "$file"
}

# Start a command in the background in its own session, detached from our
# stdio and lock, and record "PID STARTTIME" in RUN_DIR/NAME.pid.
start_bg() {
  local name=$1 state start
  shift
  printf '=== %s: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOG_DIR/$name.log"
  setsid "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 9>&- &
  local pid=$!
  read -r state start < <(proc_state_start "$pid") || die "$name exited at once; see $LOG_DIR/$name.log"
  : "$state"
  printf '%s %s\n' "$pid" "$start" >"$RUN_DIR/$name.pid"
  log "started $name (pid $pid)"
}

port_listening() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# ------------------------------------------------------------------ health

# Sets AUTH_TOKEN and STORAGE_URL; fails if the proxy does not authenticate.
authenticate() {
  local headers
  AUTH_TOKEN='' STORAGE_URL=''
  headers=$(curl -sS -m 5 -o /dev/null -D - \
    -H "X-Auth-User: $USER_NAME" -H "X-Auth-Key: $USER_KEY" "$AUTH_URL" 2>/dev/null) || return 1
  headers=$(tr -d '\r' <<<"$headers")
  AUTH_TOKEN=$(sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: *//p' <<<"$headers" | tail -n 1)
  STORAGE_URL=$(sed -n 's/^[Xx]-[Ss]torage-[Uu]rl: *//p' <<<"$headers" | tail -n 1)
  [[ -n $AUTH_TOKEN && -n $STORAGE_URL ]]
}

http_code() {
  curl -sS -m 10 -o /dev/null -w '%{http_code}' "$@" 2>/dev/null || true
}

healthcheck_ok() {
  [[ $(http_code "$PROXY_URL/healthcheck") == 200 ]]
}

# Read-only: healthcheck, auth, HEAD of the account.
healthy() {
  healthcheck_ok && authenticate &&
    [[ $(http_code -I -H "X-Auth-Token: $AUTH_TOKEN" "$STORAGE_URL") == 2?? ]]
}

# Writes: PUT of a small object in a scratch container, then removes both.
write_ok() {
  local c=$STORAGE_URL/cga-readiness code
  code=$(http_code -X PUT -H "X-Auth-Token: $AUTH_TOKEN" "$c")
  [[ $code == 2?? ]] || return 1
  code=$(http_code -X PUT -H "X-Auth-Token: $AUTH_TOKEN" --data-binary ready "$c/probe")
  [[ $code == 201 ]] || return 1
  http_code -X DELETE -H "X-Auth-Token: $AUTH_TOKEN" "$c/probe" >/dev/null
  http_code -X DELETE -H "X-Auth-Token: $AUTH_TOKEN" "$c" >/dev/null
  return 0
}

print_facts() {
  cat <<EOF
SWIFT_AUTH_URL=$AUTH_URL
SWIFT_USER=$USER_NAME
SWIFT_KEY=$USER_KEY
S3_ENDPOINT=$PROXY_URL
S3_ACCESS_KEY=$USER_NAME
S3_SECRET_KEY=$USER_KEY
S3_REGION=us-east-1
EOF
}

show_logs() {
  local f
  for f in "$LOG_DIR"/*.log; do
    [[ -e $f ]] || continue
    printf '\n--- last lines of %s ---\n' "$f" >&2
    tail -n 25 "$f" >&2
  done
}

# ------------------------------------------------------------------- setup

ensure_packages() {
  local missing=() p status apt_log
  for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == 'install ok installed' ]] || missing+=("$p")
  done
  command -v curl >/dev/null || missing+=(curl)
  command -v setsid >/dev/null || missing+=(util-linux)
  ((${#missing[@]} == 0)) && return 0
  [[ $(id -u) == 0 ]] || die "packages missing (${missing[*]}) and not root"
  apt_log=$STATE_DIR/apt.log
  log "installing ${missing[*]} (log: $apt_log) ..."
  local t0=$SECONDS
  if ! {
    DEBIAN_FRONTEND=noninteractive apt-get update &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  } >"$apt_log" 2>&1; then
    cat "$apt_log" >&2
    die "apt-get failed"
  fi
  log "packages installed in $((SECONDS - t0))s"
}

ensure_swift_conf() {
  [[ -f /etc/swift/swift.conf ]] && return 0
  log "creating /etc/swift/swift.conf"
  mkdir -p /etc/swift
  cat >/etc/swift/swift.conf <<'EOF'
[swift-hash]
swift_hash_path_suffix = cga-test-object-store
swift_hash_path_prefix =

[storage-policy:0]
name = Policy-0
default = yes
EOF
}

write_configs() {
  local s
  for s in account container object; do
    cat >"$ETC_DIR/$s-server.conf" <<EOF
[DEFAULT]
bind_ip = $HOST
bind_port = $(server_port "$s")
workers = 0
user = root
swift_dir = $ETC_DIR
devices = $DEV_DIR
mount_check = false
recon_cache_path = $CACHE_DIR
log_name = $s-server
$(if [[ $s == object ]]; then printf 'network_chunk_size = 1048576\ndisk_chunk_size = 1048576\n'; fi)
[pipeline:main]
pipeline = $s-server

[app:$s-server]
use = egg:swift#$s
EOF
  done

  cat >"$ETC_DIR/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = $HOST
bind_port = $PROXY_PORT
workers = 0
user = root
swift_dir = $ETC_DIR
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
object_chunk_size = 1048576
client_chunk_size = 1048576

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = $HOST:$MEMCACHED_PORT

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
max_upload_part_num = 10000

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo
max_manifest_segments = 10000

[filter:dlo]
use = egg:swift#dlo
rate_limit_segments_per_sec = 0

[filter:versioned_writes]
use = egg:swift#versioned_writes
EOF
}

build_ring() {
  local s=$1 port rc=0
  port=$(server_port "$s")
  rm -f "$ETC_DIR/$s.builder" "$ETC_DIR/$s.ring.gz"
  swift-ring-builder "$ETC_DIR/$s.builder" create 8 1 1 >/dev/null &&
    swift-ring-builder "$ETC_DIR/$s.builder" add --region 1 --zone 1 \
      --ip "$HOST" --port "$port" --device d1 --weight 100 >/dev/null || return 1
  # exit 1 is a warning (e.g. balance); the ring file is what matters
  swift-ring-builder "$ETC_DIR/$s.builder" rebalance >/dev/null || rc=$?
  [[ $rc -le 1 && -s $ETC_DIR/$s.ring.gz ]]
}

# The three rings are built in parallel (each builder call is a Python start).
build_rings() {
  local s pids=() names=() i
  for s in account container object; do
    [[ -s $ETC_DIR/$s.ring.gz ]] && continue
    log "building the $s ring"
    build_ring "$s" 2>"$LOG_DIR/ring-$s.log" &
    pids+=("$!") names+=("$s")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || {
      cat "$LOG_DIR/ring-${names[$i]}.log" >&2
      die "building the ${names[$i]} ring failed"
    }
  done
}

lock_state() {
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/.lock"
  flock -w 120 9 || die "another object-store.sh holds $STATE_DIR/.lock"
}

# --------------------------------------------------------------- commands

# Stops every process recorded in RUN_DIR (proxy first, memcached last);
# succeeds if at least one of them was still running.
stop_ours() {
  local f any=1
  for f in proxy-server object-server container-server account-server memcached; do
    [[ -e $RUN_DIR/$f.pid ]] || continue
    pidfile_alive "$RUN_DIR/$f.pid" && any=0
    stop_pidfile "$RUN_DIR/$f.pid"
  done
  return "$any"
}

cmd_up() {
  local t0=$SECONDS s port name deadline i
  lock_state
  ensure_packages
  ensure_swift_conf

  if healthy && write_ok; then
    log "already up and healthy at $PROXY_URL"
    print_facts
    return 0
  fi

  mkdir -p "$ETC_DIR" "$DEV_DIR/d1" "$LOG_DIR" "$RUN_DIR" "$CACHE_DIR"
  # Leftovers of ours (partial start, crashed proxy, stale pid files).
  for s in "${SERVERS[@]}"; do
    stop_pidfile "$RUN_DIR/$s.pid"
  done
  for s in "${SERVERS[@]}"; do
    port=$(server_port "$s")
    # A server we just stopped may hold its port for a moment while it exits.
    for ((i = 0; i < 100; i++)); do
      port_listening "$port" || break
      sleep 0.1
    done
    if port_listening "$port"; then
      die "port $HOST:$port is in use by another process; not starting Swift"
    fi
  done

  write_configs
  build_rings

  if pidfile_alive "$RUN_DIR/memcached.pid"; then
    :
  elif port_listening "$MEMCACHED_PORT"; then
    rm -f "$RUN_DIR/memcached.pid"
    log "using the memcached already listening on $HOST:$MEMCACHED_PORT"
  else
    start_bg memcached memcached -u root -l "$HOST" -p "$MEMCACHED_PORT" -U 0 -m 64
  fi

  for s in account container object; do
    start_bg "$s-server" "swift-$s-server" "$ETC_DIR/$s-server.conf" -v
  done
  start_bg proxy-server swift-proxy-server "$ETC_DIR/proxy-server.conf" -v

  deadline=$((SECONDS + READY_TIMEOUT))
  until healthcheck_ok && authenticate && write_ok; do
    for name in memcached "${SERVERS[@]}"; do
      [[ -e $RUN_DIR/$name.pid ]] || continue
      if ! pidfile_alive "$RUN_DIR/$name.pid"; then
        show_logs
        stop_ours || true
        die "$name exited during start-up (logs above, in $LOG_DIR)"
      fi
    done
    if ((SECONDS >= deadline)); then
      show_logs
      stop_ours || true
      die "not ready after ${READY_TIMEOUT}s (logs above, in $LOG_DIR)"
    fi
    sleep 0.3
  done
  log "up at $PROXY_URL in $((SECONDS - t0))s (state: $STATE_DIR)"
  print_facts
}

cmd_down() {
  local purge=false arg any=false
  for arg in "$@"; do
    case $arg in
      --purge) purge=true ;;
      *) die "down: unknown option $arg" ;;
    esac
  done
  if [[ -d $STATE_DIR ]]; then
    lock_state
    stop_ours && any=true
  fi
  $any || log "nothing of ours was running"
  if $purge; then
    rm -rf -- "$STATE_DIR"
    log "removed $STATE_DIR"
  fi
  return 0
}

cmd_status() {
  if healthy; then
    echo "object-store: up at $PROXY_URL (auth $AUTH_URL, storage $STORAGE_URL)"
    return 0
  fi
  echo "object-store: not healthy at $PROXY_URL"
  return 1
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  status) shift; cmd_status "$@" ;;
  *)
    echo "usage: $0 up | down [--purge] | status" >&2
    exit 2
    ;;
esac
