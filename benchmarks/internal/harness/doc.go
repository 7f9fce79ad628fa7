// Package harness is the comparison harness behind the benchmarks module:
// the one process set-up every contender shares (Env), the synthetic series
// it is fed (Synthetic), the ceiling handler, and the bounded load generator
// (Run) with its latency histogram and the server's usage (Usage).
//
// It is internal to the benchmarks module: the commands under cmd/ and the
// in-process benchmarks use it; the library never does.
package harness
