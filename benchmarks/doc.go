// Package benchmarks compares komachi's /stats with what a Go service would
// otherwise use to expose its metrics: the OpenTelemetry Prometheus exporter
// behind promhttp, expvar's /debug/vars, and a ceiling handler writing a
// fixed byte slice of the same size as komachi's document.
//
// It is a module of its own so that its peers (the Prometheus exporter and
// client_golang) stay out of the library's go.mod; a replace directive
// points it at the working tree, so it measures the code next to it.
//
// This package holds the in-process benchmarks (go test -bench .): the cost
// of one collection plus render per series against the Prometheus
// exporter's gather plus text encoding, and the cost of one request in each
// contender's handler. The load benchmark (cmd/load with cmd/serve) and the
// overhead benchmark (cmd/overhead) are commands; run.sh runs everything and
// BENCHMARKS.md at the root of the repository explains the figures.
package benchmarks
