package exporter

// Version is the version of this package, reported as the instrumentation
// scope version of its own metrics.
const Version = "0.1.0"
