#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md in one run (under 10 minutes on a
# 2-core machine): builds the commands, runs the load benchmark (cmd/load
# starting cmd/serve per contender), the in-process benchmarks (go test
# -bench) and the overhead stress row (overhead.sh at a 5 s window), writes
# the raw outputs to results/ and prints the tables and the goals (also
# written to results/summary.md). The overhead at the default 60 s window
# takes longer and is its own command, ./overhead.sh; run it first and the
# report here includes it.
#
# Knobs (environment): SERIES (1000) for the load benchmark, CONNS (1,16,64),
# LOAD_REPS (2) interleaved repetitions of each load cell, DURATION (4s) and
# WARMUP (500ms) per load cell, COUNT (3) interleaved rounds of the
# in-process benchmarks, BENCHTIME (1s), REPS (3) runs of each overhead cell,
# OVERHEAD_DURATION (30s), WINDOW (5s) for the overhead stress row.
set -euo pipefail
cd "$(dirname "$0")"

# Nothing may be forwarded anywhere: the benchmark is loopback only.
unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_METRICS_ENDPOINT MACKEREL_APIKEY MACKEREL_API_KEY KOMACHI_STATS_WINDOW KOMACHI_STATS_SELECT

SERIES=${SERIES:-1000}
CONNS=${CONNS:-1,16,64}
LOAD_REPS=${LOAD_REPS:-2}
DURATION=${DURATION:-4s}
WARMUP=${WARMUP:-500ms}
COUNT=${COUNT:-3}
BENCHTIME=${BENCHTIME:-1s}
REPS=${REPS:-3}
OVERHEAD_DURATION=${OVERHEAD_DURATION:-30s}
WINDOW=${WINDOW:-5s}

start=$(date +%s)
mkdir -p results bin
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown) (+ the working tree)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -sr)"
  echo "go: $(go version)"
  echo "GOMAXPROCS: default"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > results/machine.raw
cat results/machine.raw

echo "== build"
go build -o bin/ ./cmd/...

echo "== load: $SERIES series, conns $CONNS, $LOAD_REPS × ($WARMUP warm-up + $DURATION) per cell"
./bin/load -serve=./bin/serve -series="$SERIES" -conns="$CONNS" -reps="$LOAD_REPS" -duration="$DURATION" -warmup="$WARMUP" \
  -out=results/load.raw > /dev/null

echo "== in-process benchmarks: $COUNT interleaved rounds, -benchtime=$BENCHTIME"
# One round runs every benchmark once, so that a burst of load from
# elsewhere on the machine lands on every row of a round rather than on
# the -count runs of one row; the report takes the median over the rounds.
go test -c -o bin/benchmarks.test .
: > results/bench.raw
for round in $(seq "$COUNT"); do
  ./bin/benchmarks.test -test.run='^$' -test.bench=. -test.benchtime="$BENCHTIME" -test.count=1 >> results/bench.raw
done
grep -E '^Benchmark' results/bench.raw | sed 's/^/  /' | cut -c1-160

echo "== cost in Mackerel: examples/basic watched five ways (TestCostInMackerel)"
go test -run '^TestCostInMackerel$' -count=1 . -cost-table=results/cost.md > /dev/null

echo "== overhead, stress row: window $WINDOW, $REPS × $OVERHEAD_DURATION (the default-window row is ./overhead.sh, about 10 minutes)"
WINDOW="$WINDOW" OVERHEAD_DURATION="$OVERHEAD_DURATION" REPS="$REPS" ./overhead.sh

echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >> results/machine.raw
echo "run.sh took: $(( $(date +%s) - start )) s before the report" >> results/machine.raw

echo "== report"
{
  echo "## One run of benchmarks/run.sh"
  echo
  sed 's/^/    /' results/machine.raw
  echo
  ./bin/report -dir=results
  echo
  echo "### Cost in Mackerel"
  echo
  cat results/cost.md
} > results/summary.md
cat results/summary.md
echo
echo "== run.sh took $(( $(date +%s) - start )) s"
