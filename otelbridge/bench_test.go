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
	br, err := Start(context.Background(), env(), WithWindow(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = br.Shutdown(context.Background()) }()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := br.stats.reader.ForceFlush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	body, _ := br.stats.exporter.Document()
	b.ReportMetric(float64(len(body)), "doc-bytes")
}

// BenchmarkHeapHeld reports the live heap the bridge keeps with the
// defaults, after its first collections: heap-bytes is the difference in
// live heap objects (after a GC) between before Start and after it.
func BenchmarkHeapHeld(b *testing.B) {
	for b.Loop() {
		before := liveHeap()
		br, err := Start(context.Background(), env(), WithWindow(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		for range 3 {
			_ = br.stats.reader.ForceFlush(context.Background())
		}
		after := liveHeap()
		b.ReportMetric(float64(after-before), "heap-bytes")
		runtime.KeepAlive(br)
		_ = br.Shutdown(context.Background())
	}
}

func liveHeap() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}
