package heartbeat

import (
	"context"
	"fmt"
	"time"
)

// Vital is one dependency or condition that readiness (/heartbeat) depends
// on: a database, a queue, a warmed cache.
//
// Check must honour ctx: it is cancelled when the vital's timeout expires.
// The Handler stops waiting at the timeout either way, so a hung Check never
// pins a request, but Go cannot kill a goroutine: a Check that ignores ctx
// keeps its own goroutine until it returns, and may then overlap the next
// run's call. A Handler starts at most one run of its vitals at a time.
type Vital interface {
	// Name identifies the vital in the verbose JSON and in the metric
	// attribute; unique within a Handler, not empty.
	Name() string
	// Check returns nil when the vital is healthy.
	Check(ctx context.Context) error
}

// VitalFunc adapts a function to a Vital. A nil check panics: it is a
// programming error at set-up.
func VitalFunc(name string, check func(ctx context.Context) error) Vital {
	if check == nil {
		panic(fmt.Sprintf("heartbeat: VitalFunc: nil check for vital %q", name))
	}
	return vitalFunc{name: name, check: check}
}

type vitalFunc struct {
	name  string
	check func(ctx context.Context) error
}

func (v vitalFunc) Name() string                    { return v.name }
func (v vitalFunc) Check(ctx context.Context) error { return v.check(ctx) }

// timeouter is implemented by a vital that carries its own timeout instead
// of the Handler's default.
type timeouter interface {
	Timeout() time.Duration
}

// VitalWithTimeout returns v with its own timeout d in place of the one
// set by WithTimeout, for a dependency known to be slower or faster than
// the rest. New rejects d <= 0.
func VitalWithTimeout(v Vital, d time.Duration) Vital {
	if v == nil {
		panic("heartbeat: VitalWithTimeout: nil vital")
	}
	return timedVital{Vital: v, timeout: d}
}

type timedVital struct {
	Vital
	timeout time.Duration
}

func (v timedVital) Timeout() time.Duration { return v.timeout }
