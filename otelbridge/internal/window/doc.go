// Package window feeds an sdk/metric Exporter on a clock of its own: one
// collection and one export per window, whatever the app does with its
// MeterProvider. otelbridge puts the /stats exporter behind it.
//
// # Why not a PeriodicReader
//
// An exporter that shows increases "since the previous export", as /stats
// does, has a window only as long as nothing else exports. A PeriodicReader
// takes part in the provider's ForceFlush, so an app calling mp.ForceFlush to
// push its OTLP data would cut the /stats window short. A Reader is built on
// an sdkmetric.ManualReader, which has no ForceFlush: the provider's flush
// passes it by, and the window ends only on this package's clock. The
// ManualReader gets the exporter's temporality and aggregation selectors and
// the producers given to New, as a PeriodicReader would.
//
// # The clock
//
// A window that divides 24 hours (1s, 2s, 5s, 10s, 15s, 20s, 30s, 1m, 90s,
// 5m, 1h, …) is aligned to the wall clock: its boundaries are the instants
// whose Unix time is a multiple of the window, so every Pod with the same
// window collects at the same instants and covers the same minute (for a 60s
// window, started at 12:00:37, the ticks come at 12:01:00, 12:02:00, …).
// Any other window (7s, 7m, 25h) has no such boundary worth meeting; its ticks
// come every window from Start.
//
// After each tick the next boundary is computed afresh from time.Now, so
// timer lateness does not accumulate, and a wall clock that is stepped is
// followed at the next boundary. A collection and export that outlasts a
// window does not queue the ticks it missed: the next tick is the next
// boundary after it ends, and that window is longer. Each tick's collection
// and export get a context that ends one window later.
//
// Collect collects and exports now, outside the clock (otelbridge uses it for
// the first document at start). It does not move the later ticks: the window
// after it ends at the next boundary. Collections and exports never overlap.
//
// # The floor
//
// A window is at least MinWindow (1 s); New rejects a shorter one with
// ErrTooShort, which the caller wraps with the name of its option or variable.
// Below a second the reader would spend its time collecting, and Mackerel
// reads once a minute.
//
// # Errors and shutdown
//
// A tick's errors go to the logger (WithLogger), one line each for a failed
// collection and a failed export; nothing panics. A collection that reports
// an error but gathered data (a callback or a producer that failed) is still
// exported: skipping it would lose the window's delta aggregations for every
// other instrument.
//
// Shutdown collects and exports one last time, stops the clock, and shuts
// down the ManualReader and the exporter. The provider's Shutdown calls it,
// as it would a PeriodicReader's; shut a Reader down once, through the
// provider or directly. Later calls of Shutdown, Collect and Start return
// ErrShutdown, which wraps sdkmetric.ErrReaderShutdown.
package window
