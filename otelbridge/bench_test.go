package otelbridge

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// BenchmarkCollection measures what the bridge costs per window with the
// defaults: one collection of the runtime, host and Go vitals and the
// exporter's render, as the reader does it every 60 s.
func BenchmarkCollection(b *testing.B) {
	br, err := Start(context.Background(), WithWindow(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = br.Shutdown(context.Background()) }()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := br.stats.reader.Collect(ctx); err != nil {
			b.Fatal(err)
		}
	}
	body, _ := br.stats.exporter.Document()
	b.ReportMetric(float64(len(body)), "doc-bytes")
}

// BenchmarkHeapHeld reports the live heap the bridge keeps with the
// defaults, after its first collections: heap-bytes is the difference in
// live heap objects (after a GC) between before Start and after it. It is
// measured once, outside the benchmark loop: inside it, what the loop
// machinery keeps alive between iterations skews the difference.
func BenchmarkHeapHeld(b *testing.B) {
	before := liveHeap()
	br, err := Start(context.Background(), WithWindow(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	for range 3 {
		_ = br.stats.reader.Collect(context.Background())
	}
	after := liveHeap()
	runtime.KeepAlive(br)
	_ = br.Shutdown(context.Background())
	for range b.N {
	}
	b.ReportMetric(float64(after-before), "heap-bytes")
}

// liveHeap is the live heap after two GCs: the second empties sync.Pool's
// victim cache, as the GCs an app runs in a 60 s window do.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}
