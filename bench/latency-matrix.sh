#!/bin/sh
# Detection latency of Breakwater (decode workers and detection shards as given) and
# FastNetMon 1.2.4 (no averaging) in one run, both formats, with the shared harness
# ../shared/bench/fastnetmon/latency.py (60k pps SYN flood vs a 20k pps threshold):
#   bench/latency-matrix.sh [TRIALS=7] ["W/S W/S ..." = "1/0 0/0"]  (W decode workers, S shards)
# Prints one SUMMARY line per daemon and format (median, min, max in latency_s).
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
H=$ROOT/../shared/bench/fastnetmon
TRIALS=${1:-7}
CONFIGS=${2:-"1/0 0/0"}
OUT=${BW_LAT_OUT:-/tmp/bw-latency}
mkdir -p "$OUT"
echo "# start $(date -u +%FT%TZ) $(uptime)"
for FMT in sflow netflow9; do
  for C in $CONFIGS; do
    W=${C%/*}; S=${C#*/}
    BREAKWATER_CAPTURE_WORKERS=$W BREAKWATER_DETECTION_SHARDS=$S "$H/latency.py" --name "bw_${FMT}_w${W}_s${S}" \
      --format "$FMT" --trials "$TRIALS" --seed 12345 --scratch "$OUT/scratch" --out "$OUT" \
      --daemon-cmd "$ROOT/bench/latency-daemon.sh {workdir} {notify} {port} {format}" 2>&1 | grep SUMMARY
  done
  (cd "$H" && ./latency.py --name "fnm_${FMT}_avg0" --format "$FMT" --trials "$TRIALS" --seed 12345 \
    --scratch "$OUT/scratch" --out "$OUT" --daemon-cmd "./fnm_start.sh {workdir} --format $FMT --avg 0 --delay 1 --notify {notify}" 2>&1 | grep SUMMARY)
done
echo "# end $(date -u +%FT%TZ) $(uptime)"
