#!/bin/sh
# Starts `breakwater run` for ../shared/bench/fastnetmon/latency.py:
#   latency.py --daemon-cmd '/path/to/bench/latency-daemon.sh {workdir} {notify} {port} {format}'
# Threshold 20k pps incoming (FastNetMon's in that harness), legacy text notify
# (`<ip> incoming <pps> ban`), collector on 127.0.0.1:{port}, API on 127.0.0.1:{port}+20000.
# BW_LAT_PASSWORD_HASH (a `breakwater hash-password` hash) adds an API user `bench` with it,
# so the API checks passwords (bench/latency-badpass.ts floods it with bad ones).
# capture.workers is auto: BREAKWATER_CAPTURE_WORKERS=N in the environment sets it.
# Runs in the foreground (exec).
set -e
W=$1; NOTIFY=$2; PORT=$3; FORMAT=$4
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$W/policies"
API_PORT=$((PORT + 20000))
# Built apart: a `}` inside ${VAR:+...} ends the expansion early in dash.
USERS=""
if [ -n "${BW_LAT_PASSWORD_HASH:-}" ]; then
  USERS="  users: { bench: { password_hash: \"$BW_LAT_PASSWORD_HASH\" } }"
fi
cat > "$W/breakwater.yaml" <<YAML
networks: [203.0.113.0/24]
capture:
  listeners: [{ name: collector, type: auto, address: 127.0.0.1, port: $PORT }]
api:
  listen: "127.0.0.1:$API_PORT"
$USERS
state_dir: $W/state
policies: ./policies
logging: { level: info }
YAML
cat > "$W/policies/default.yaml" <<YAML
name: default
thresholds:
  ban:
    incoming: { total: { pps: 20000, mbps: null, flows: null } }   # the pps threshold alone, as FastNetMon is set up
actions:
  ban_time: 10m
  blackhole: { enabled: false }
  notify: { script: $NOTIFY, format: text, timeout: 10s }
YAML
exec node "$ROOT/dist/src/cli/main.js" run --config "$W/breakwater.yaml"
