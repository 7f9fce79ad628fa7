// Package heartbeat is the net/http handler a Go service mounts at /ops to
// be probed by Kubernetes and mackerel-container-agent: readiness from
// pluggable vitals, and liveness. It ports KomachiHeartbeat, keeping its
// bodies so existing probes keep working. The /stats document is served by
// the exporter's own handler; package otelbridge mounts both under one
// prefix.
//
// # Mounting
//
// [New] returns an http.Handler whose paths are relative to its mount point:
//
//	mux.Handle("/ops/", http.StripPrefix("/ops", h))
//
// A method pattern works too, and it also routes HEAD:
//
//	mux.Handle("GET /ops/", http.StripPrefix("/ops", h))
//
// Below the mount point:
//
//	GET /heartbeat  readiness: 200 "heartbeat:ok" when every vital passes,
//	                503 "heartbeat:NG" when one fails or after Handler.Drain
//	GET /livez      liveness: 200 "livez:ok" while the process serves; runs
//	                no vital and is never drained
//
// HEAD is allowed wherever GET is; any other method answers 405 with Allow,
// any other path 404. Every answer carries an explicit Content-Type,
// Content-Length and "X-Content-Type-Options: nosniff"; /heartbeat and
// /livez send "Cache-Control: no-cache", errors "no-store".
//
// Point a Kubernetes readinessProbe and mackerel-container-agent's
// readinessProbe at /ops/heartbeat, and a livenessProbe at /ops/livez: a
// failing database must take the Pod out of rotation, not restart it.
//
// # Verbose answer
//
// /heartbeat?verbose (or "Accept: application/health+json") answers
// application/health+json in the shape of the IETF health check draft
// (draft-inadarei-api-health-check): an overall "status" ("pass" or
// "fail") and under "checks", per vital, its "status", the check's duration
// ("observedValue", "observedUnit": "s") and start "time". A failing vital's
// error text ("output") appears only with [WithDetails](true).
//
// # Vitals
//
// A [Vital] is a name and a Check(ctx) error; [VitalFunc] adapts a function.
// A run checks every vital in parallel, each in its own goroutine with its
// own timeout ([WithTimeout], default [DefaultTimeout] = 500 ms, inside the
// 1 s default timeout of a Kubernetes probe; [VitalWithTimeout] for one
// vital). A vital that does not return in time fails with [ErrTimeout], one
// that panics fails with [ErrPanic]; neither stops the process.
//
// Check must honour ctx: the Handler stops waiting at the timeout, but Go
// cannot stop a goroutine, so a Check that ignores ctx keeps its goroutine
// until it returns by itself.
//
// # Probe storms
//
// One run answers every /heartbeat request for [WithCacheTTL] (default
// [DefaultCacheTTL] = 1 s), and requests that arrive while a run is in flight
// wait for that run instead of starting another: however many probes
// come, each dependency sees at most one check per TTL, and no request
// waits longer than the largest vital timeout. A request whose client goes
// away stops waiting; the run goes on for the others.
//
// With [WithBackgroundInterval] the Handler checks in its own goroutine every
// interval (at least 1 s) instead, and requests never wait (except those
// arriving before the first run ends, which share it). [Handler.Shutdown]
// stops that goroutine.
//
// # Drain
//
// At shutdown call [Handler.Drain], wait at least one probe period, then shut
// the server down: readiness answers 503 at once, so Kubernetes stops
// routing to the Pod while /livez (and whatever else the server mounts)
// keeps serving. Then [Handler.Shutdown] stops the background checks and
// the metrics.
//
// # Metrics
//
// With [WithMeterProvider], each vital's last status ([MetricVitalStatus],
// 1 pass / 0 fail) and check duration ([MetricVitalDuration], seconds) are
// observable gauges with the attribute [AttributeVitalName], read from the
// last run at collection time, so they reach /stats through the same
// MeterProvider as every other metric. In /stats they appear as
// komachi.heartbeat.vital.status.<vital> and
// komachi.heartbeat.vital.duration.<vital>.
//
// # Cost
//
// Serving is allocation-free in this package: the answers (plain and
// verbose) are rendered once per run, headers are assigned pre-built
// values, and Accept and the query are scanned in place.
package heartbeat
