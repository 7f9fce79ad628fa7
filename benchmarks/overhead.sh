#!/usr/bin/env bash
# The bridge's cost on an app: cmd/overhead's tiny app and the same app
# holding 32 MiB of its own live data, each without and with the bridge.
# The four cells of a repetition run at the same time, so that every
# with/without pair sees the same machine; a CPU profile is taken of each.
# Writes results/overhead-$WINDOW.raw (one JSON line per cell) and
# results/prof/$WINDOW-<live bytes>-<bridge>-<rep>.prof; cmd/report turns
# them into the tables of BENCHMARKS.md.
#
#   ./overhead.sh                                   # the defaults: 60 s window, 3 × 200 s, about 10 minutes
#   WINDOW=5s OVERHEAD_DURATION=30s ./overhead.sh   # the stress row (run.sh runs it)
set -euo pipefail
cd "$(dirname "$0")"

unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_METRICS_ENDPOINT MACKEREL_APIKEY MACKEREL_API_KEY KOMACHI_STATS_WINDOW KOMACHI_STATS_SELECT

WINDOW=${WINDOW:-60s}
# Three full windows and the scrapes after them.
OVERHEAD_DURATION=${OVERHEAD_DURATION:-200s}
REPS=${REPS:-3}

mkdir -p results/prof bin
go build -o bin/ ./cmd/overhead
out=results/overhead-$WINDOW.raw
rm -f results/prof/"$WINDOW"-*
: > "$out"
for rep in $(seq "$REPS"); do
  pids=()
  for live in 0 $((32 << 20)); do
    for bridge in false true; do
      cell=results/prof/$WINDOW-$live-$bridge-$rep
      ./bin/overhead -bridge=$bridge -live=$live -duration="$OVERHEAD_DURATION" -window="$WINDOW" -cpuprofile="$cell.prof" > "$cell.json" &
      pids+=($!)
    done
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  for live in 0 $((32 << 20)); do
    cat results/prof/"$WINDOW-$live"-false-"$rep".json results/prof/"$WINDOW-$live"-true-"$rep".json >> "$out"
  done
  rm -f results/prof/"$WINDOW"-*-"$rep".json
done
# Where the difference goes, function by function, over all repetitions.
for live in 0 $((32 << 20)); do
  for bridge in false true; do
    go tool pprof -proto results/prof/"$WINDOW-$live-$bridge"-*.prof > results/prof/"$WINDOW-$live-$bridge".merged.pb.gz 2> /dev/null
  done
  go tool pprof -top -diff_base=results/prof/"$WINDOW-$live"-false.merged.pb.gz \
    bin/overhead results/prof/"$WINDOW-$live"-true.merged.pb.gz > results/overhead-"$WINDOW"-"$live".diff.txt
done
echo "overhead.sh: wrote $out and results/overhead-$WINDOW-*.diff.txt"
