package govitals

import (
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/host"
	contribruntime "go.opentelemetry.io/contrib/instrumentation/runtime"
)

// With contrib runtime (and its producer) and contrib host on the same
// provider, every metric name must come from exactly one scope: govitals only
// adds what they lack.
func TestNoOverlapWithContrib(t *testing.T) {
	mp, reader := newReader(t, contribruntime.NewProducer(), NewProducer())
	if err := contribruntime.Start(contribruntime.WithMeterProvider(mp)); err != nil {
		t.Fatal(err)
	}
	if err := host.Start(host.WithMeterProvider(mp)); err != nil {
		t.Fatal(err)
	}
	reg, err := Start(WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	scopeOf := make(map[string]string)
	for _, sm := range collect(t, reader).ScopeMetrics {
		for _, m := range sm.Metrics {
			if prev, dup := scopeOf[m.Name]; dup && prev != sm.Scope.Name {
				t.Errorf("%s emitted by both %s and %s", m.Name, prev, sm.Scope.Name)
			}
			scopeOf[m.Name] = sm.Scope.Name
		}
	}
	// The check above means something only if all three took part.
	for name, scope := range map[string]string{
		"go.goroutine.count":          contribruntime.ScopeName,
		"go.memory.used":              contribruntime.ScopeName,
		"go.schedule.duration":        contribruntime.ScopeName,
		"process.cpu.time":            host.ScopeName,
		"system.network.io":           host.ScopeName,
		"go.cpu.time":                 ScopeName,
		"go.memory.gc.pause.duration": ScopeName,
		"komachi.go.memory.used":      ScopeName,
	} {
		if got := scopeOf[name]; got != scope {
			t.Errorf("%s from scope %q, want %q", name, got, scope)
		}
	}
}
