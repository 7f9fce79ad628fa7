package govitals

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/common"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// newReader returns a ManualReader on a real MeterProvider, shut down when the
// test ends.
func newReader(t testing.TB, producers ...sdkmetric.Producer) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	t.Helper()
	var opts []sdkmetric.ManualReaderOption
	for _, p := range producers {
		opts = append(opts, sdkmetric.WithProducer(p))
	}
	reader := sdkmetric.NewManualReader(opts...)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		if err := mp.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return mp, reader
}

func collect(t testing.TB, r *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	return rm
}

// ours returns the metrics of this package's scope by name.
func ours(rm metricdata.ResourceMetrics) map[string]metricdata.Metrics {
	out := make(map[string]metricdata.Metrics)
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// points flattens a Sum into attribute value (of key, "" without) -> value.
func points(t *testing.T, m metricdata.Metrics, key string, monotonic bool) map[string]float64 {
	t.Helper()
	out := make(map[string]float64)
	add := func(set attribute.Set, v float64) {
		if set.Len() > 1 || (key == "" && set.Len() != 0) {
			t.Errorf("%s: unexpected attributes %v", m.Name, set.ToSlice())
		}
		val := ""
		if key != "" {
			got, ok := set.Value(attribute.Key(key))
			if !ok {
				t.Errorf("%s: data point without %s: %v", m.Name, key, set.ToSlice())
			}
			val = got.AsString()
		}
		if _, dup := out[val]; dup {
			t.Errorf("%s: two data points for %q", m.Name, val)
		}
		out[val] = v
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		checkSum(t, m.Name, d.IsMonotonic, d.Temporality, monotonic)
		for _, p := range d.DataPoints {
			add(p.Attributes, float64(p.Value))
		}
	case metricdata.Sum[float64]:
		checkSum(t, m.Name, d.IsMonotonic, d.Temporality, monotonic)
		for _, p := range d.DataPoints {
			add(p.Attributes, p.Value)
		}
	default:
		t.Errorf("%s: data is %T, want a Sum", m.Name, m.Data)
	}
	return out
}

func checkSum(t *testing.T, name string, isMonotonic bool, temp metricdata.Temporality, monotonic bool) {
	t.Helper()
	if isMonotonic != monotonic {
		t.Errorf("%s: monotonic = %v, want %v", name, isMonotonic, monotonic)
	}
	if temp != metricdata.CumulativeTemporality {
		t.Errorf("%s: temporality %v", name, temp)
	}
}

func burnCPU() {
	deadline := time.Now().Add(50 * time.Millisecond)
	sum := sha256.Sum256(nil)
	for time.Now().Before(deadline) {
		for range 1000 {
			sum = sha256.Sum256(sum[:])
		}
	}
	runtime.KeepAlive(sum)
}

var sink [][]byte

func makeGarbage() {
	for range 1000 {
		sink = append(sink, make([]byte, 1024))
	}
	sink = nil
}

func TestStartRecordsEveryVital(t *testing.T) {
	mp, reader := newReader(t)
	reg, err := Start(WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	burnCPU()
	makeGarbage()
	runtime.GC() // /cpu/classes are only brought up to date by a GC
	got := ours(collect(t, reader))

	has := procSupportOn(runtime.GOOS)
	_, _, haveRusage := contextSwitches(new(rusage))
	type want struct {
		unit      string
		monotonic bool
		key       string   // attribute key, "" for none
		values    []string // attribute values that must all be there, and only them
		here      bool     // whether this platform gives the metric
	}
	wants := map[string]want{
		"go.cpu.time":                        {"s", true, "go.cpu.state", []string{"user", "gc", "scavenge", "idle"}, true},
		"go.memory.gc.cycles":                {"{gc_cycle}", true, "", []string{""}, true},
		"komachi.go.memory.freed":            {"By", true, "", []string{""}, true},
		"komachi.go.memory.frees":            {"{free}", true, "", []string{""}, true},
		"komachi.go.memory.used":             {"By", false, "go.memory.detailed_type", nil, true},
		"komachi.go.goroutine.count":         {"{goroutine}", false, "komachi.go.goroutine.state", []string{"not-in-go", "runnable", "running", "waiting"}, true},
		"process.context_switches":           {"{context_switch}", true, "process.context_switch.type", []string{"voluntary", "involuntary"}, haveRusage},
		"process.unix.file_descriptor.count": {"{file_descriptor}", false, "", []string{""}, has.fds},
		"process.thread.count":               {"{thread}", false, "", []string{""}, has.threads},
		"process.memory.usage":               {"By", false, "", []string{""}, has.memory},
		"process.memory.virtual":             {"By", false, "", []string{""}, has.memory},
		"process.disk.io":                    {"By", true, "disk.io.direction", []string{"read", "write"}, has.diskIO},
	}
	_, ioErr := os.ReadFile("/proc/self/io")
	values := make(map[string]map[string]float64)
	for name, w := range wants {
		m, ok := got[name]
		if !w.here {
			if ok {
				t.Errorf("%s present on %s", name, runtime.GOOS)
			}
			continue
		}
		if !ok {
			if name == "process.disk.io" && ioErr != nil {
				continue // /proc/self/io unreadable here: skipped, as documented
			}
			t.Errorf("%s missing", name)
			continue
		}
		if m.Unit != w.unit {
			t.Errorf("%s: unit %q, want %q", name, m.Unit, w.unit)
		}
		if m.Description == "" {
			t.Errorf("%s: no description", name)
		}
		pts := points(t, m, w.key, w.monotonic)
		if w.values != nil {
			var keys []string
			for k := range pts {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			wantKeys := slices.Sorted(slices.Values(w.values))
			if !slices.Equal(keys, wantKeys) {
				t.Errorf("%s: %s values %q, want %q", name, w.key, keys, wantKeys)
			}
		}
		for k, v := range pts {
			if v < 0 {
				t.Errorf("%s{%s}: negative %v", name, k, v)
			}
		}
		values[name] = pts
	}
	for name := range got {
		if _, ok := wants[name]; !ok {
			t.Errorf("unexpected metric %s", name)
		}
	}
	if t.Failed() {
		return
	}

	// Plausible values.
	if v := values["go.cpu.time"]["user"]; v <= 0 {
		t.Errorf("go.cpu.time{user} = %v after burning CPU", v)
	}
	if v := values["go.memory.gc.cycles"][""]; v < 1 {
		t.Errorf("go.memory.gc.cycles = %v after runtime.GC", v)
	}
	if v := values["komachi.go.memory.freed"][""]; v < 1024*1000 {
		t.Errorf("komachi.go.memory.freed = %v after freeing 1000 KiB", v)
	}
	if v := values["komachi.go.memory.frees"][""]; v < 1000 {
		t.Errorf("komachi.go.memory.frees = %v after freeing 1000 objects", v)
	}
	classes := values["komachi.go.memory.used"]
	for _, c := range []string{"heap/objects", "heap/stacks", "metadata/other"} {
		if classes[c] <= 0 {
			t.Errorf("komachi.go.memory.used{%s} = %v", c, classes[c])
		}
	}
	for _, c := range []string{"total", "heap/released"} {
		if _, ok := classes[c]; ok {
			t.Errorf("komachi.go.memory.used has class %s, which go.memory.used leaves out", c)
		}
	}
	if v := values["komachi.go.goroutine.count"]["running"]; v < 1 {
		t.Errorf("komachi.go.goroutine.count{running} = %v while this goroutine runs", v)
	}
	if runtime.GOOS != "linux" {
		return
	}
	cs := values["process.context_switches"]
	if cs["voluntary"]+cs["involuntary"] < 1 {
		t.Errorf("process.context_switches = %v after runtime.GC parked threads", cs)
	}
	if v := values["process.unix.file_descriptor.count"][""]; v < 3 {
		t.Errorf("process.unix.file_descriptor.count = %v, want >= 3 (stdin, stdout, stderr)", v)
	}
	if v := values["process.thread.count"][""]; v < 1 {
		t.Errorf("process.thread.count = %v", v)
	}
	rss, vsz := values["process.memory.usage"][""], values["process.memory.virtual"][""]
	if rss <= 0 || vsz < rss {
		t.Errorf("process.memory.usage = %v, process.memory.virtual = %v", rss, vsz)
	}
}

func TestCountersMove(t *testing.T) {
	mp, reader := newReader(t)
	reg, err := Start(WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	sumOf := func(rm metricdata.ResourceMetrics, name string) float64 {
		t.Helper()
		m, ok := ours(rm)[name]
		if !ok {
			t.Fatalf("%s missing", name)
		}
		total := 0.0
		for _, v := range points(t, m, keyOf(m), true) {
			total += v
		}
		return total
	}
	before := collect(t, reader)
	burnCPU()
	makeGarbage()
	runtime.GC()
	after := collect(t, reader)
	for _, name := range []string{"go.memory.gc.cycles", "go.cpu.time", "komachi.go.memory.freed", "komachi.go.memory.frees"} {
		if b, a := sumOf(before, name), sumOf(after, name); a <= b {
			t.Errorf("%s did not grow over runtime.GC: %v then %v", name, b, a)
		}
	}
}

// keyOf returns the attribute key of m's data points, "" if they have none.
func keyOf(m metricdata.Metrics) string {
	var set attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		set = d.DataPoints[0].Attributes
	case metricdata.Sum[float64]:
		set = d.DataPoints[0].Attributes
	}
	for _, kv := range set.ToSlice() {
		return string(kv.Key)
	}
	return ""
}

func TestFileDescriptorCountFollowsOpens(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checked against /proc/self/fd, which is Linux")
	}
	mp, reader := newReader(t)
	reg, err := Start(WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	fdCount := func() int64 {
		t.Helper()
		m, ok := ours(collect(t, reader))["process.unix.file_descriptor.count"]
		if !ok {
			t.Fatal("process.unix.file_descriptor.count missing")
		}
		return m.Data.(metricdata.Sum[int64]).DataPoints[0].Value
	}
	open := func() *os.File {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	open().Close() // let the runtime set up its poller descriptors first
	before := fdCount()
	// The listing's own descriptor is not one the process has open.
	listed, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(listed) - 1); before != want {
		t.Errorf("fd count %d, /proc/self/fd lists %d besides its own", before, want)
	}
	const n = 7
	var files []*os.File
	for range n {
		files = append(files, open())
	}
	during := fdCount()
	for _, f := range files {
		f.Close()
	}
	after := fdCount()
	if during != before+n || after != before {
		t.Errorf("fd count %d, then %d with %d more open, then %d after closing them", before, during, n, after)
	}
}

// A number gopsutil cannot read is left out of that collection only: the
// callback does not fail, the other metrics are recorded, and the number is
// back as soon as it can be read again.
func TestUnreadableProcIsLeftOut(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("points gopsutil at an empty /proc, which is Linux")
	}
	mp, reader := newReader(t)
	meter := mp.Meter(ScopeName)
	v, err := newVitals(meter)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := meter.RegisterCallback(v.observe, v.instruments()...)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	fromProc := []string{
		"process.thread.count", "process.memory.usage", "process.memory.virtual",
		"process.disk.io", "process.unix.file_descriptor.count",
	}
	v.mu.Lock()
	v.procCtx = context.WithValue(context.Background(), common.EnvKey, common.EnvMap{common.HostProcEnvKey: t.TempDir()})
	v.mu.Unlock()
	got := ours(collect(t, reader)) // collect fails the test if the callback errs
	for _, name := range fromProc {
		if _, ok := got[name]; ok {
			t.Errorf("%s recorded from an empty /proc", name)
		}
	}
	for _, name := range []string{"go.cpu.time", "process.context_switches"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing when /proc is unreadable", name)
		}
	}

	v.mu.Lock()
	v.procCtx = selfProcContext
	v.mu.Unlock()
	_, ioErr := os.ReadFile("/proc/self/io")
	got = ours(collect(t, reader))
	for _, name := range fromProc {
		if _, ok := got[name]; !ok && !(name == "process.disk.io" && ioErr != nil) {
			t.Errorf("%s still missing once /proc is readable again", name)
		}
	}
}

// HOST_PROC points gopsutil at a host's /proc; the vitals are still this
// process's own.
func TestHostProcIgnored(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("HOST_PROC is read on Linux")
	}
	t.Setenv("HOST_PROC", t.TempDir())
	mp, reader := newReader(t)
	reg, err := Start(WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	if _, ok := ours(collect(t, reader))["process.thread.count"]; !ok {
		t.Error("process.thread.count missing with HOST_PROC set")
	}
}

func TestNilOptionIgnored(t *testing.T) {
	mp, reader := newReader(t)
	reg, err := Start(nil, WithMeterProvider(mp), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	if _, ok := ours(collect(t, reader))["go.memory.gc.cycles"]; !ok {
		t.Error("nothing recorded with nil options around WithMeterProvider")
	}
}

func TestUnregisterStopsRecording(t *testing.T) {
	mp, reader := newReader(t)
	reg, err := Start(WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	if len(ours(collect(t, reader))) == 0 {
		t.Fatal("nothing recorded while registered")
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if got := ours(collect(t, reader)); len(got) != 0 {
		t.Errorf("%d metrics recorded after Unregister", len(got))
	}
}

func TestWithMeterProviderNil(t *testing.T) {
	reg, err := Start(WithMeterProvider(nil))
	if !errors.Is(err, ErrNilMeterProvider) || reg != nil {
		t.Errorf("Start(WithMeterProvider(nil)) = %v, %v; want nil, ErrNilMeterProvider", reg, err)
	}
}

func TestStartDefaultsToGlobalProvider(t *testing.T) {
	mp, reader := newReader(t)
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(mp)
	t.Cleanup(func() { otel.SetMeterProvider(prev) })

	reg, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	if _, ok := ours(collect(t, reader))["go.memory.gc.cycles"]; !ok {
		t.Error("nothing recorded through the global MeterProvider")
	}
}

func TestScope(t *testing.T) {
	mp, reader := newReader(t, NewProducer())
	reg, err := Start(WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	n := 0
	for _, sm := range collect(t, reader).ScopeMetrics {
		if sm.Scope.Name != ScopeName {
			continue
		}
		n++
		if sm.Scope.Version != Version || sm.Scope.SchemaURL != "https://opentelemetry.io/schemas/1.43.0" {
			t.Errorf("scope %+v", sm.Scope)
		}
	}
	if n != 2 {
		t.Errorf("%d scopes named %s, want 2 (meter and producer)", n, ScopeName)
	}
}

// Collections from two readers may run at once; the callback's buffers are
// shared, so -race checks the lock around them.
func TestConcurrentCollections(t *testing.T) {
	r1, r2 := sdkmetric.NewManualReader(), sdkmetric.NewManualReader(sdkmetric.WithProducer(NewProducer()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r1), sdkmetric.WithReader(r2))
	defer mp.Shutdown(context.Background())
	reg, err := Start(WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	var wg sync.WaitGroup
	for _, r := range []*sdkmetric.ManualReader{r1, r2, r1, r2} {
		wg.Go(func() {
			for range 20 {
				var rm metricdata.ResourceMetrics
				if err := r.Collect(context.Background(), &rm); err != nil {
					t.Error(err)
					return
				}
				if len(ours(rm)) == 0 {
					t.Error("empty collection")
					return
				}
			}
		})
	}
	wg.Wait()
}

// The classes of komachi.go.memory.used must add up to go.memory.used, which
// semconv defines as /memory/classes/total minus heap/released. One
// metrics.Read gives a consistent snapshot to check that against.
func TestMemoryClassesSumToMemoryUsed(t *testing.T) {
	var samples []metrics.Sample
	var classes int
	for _, d := range metrics.All() {
		if isMemoryClass(d) {
			samples = append(samples, metrics.Sample{Name: d.Name})
			classes++
		}
	}
	samples = append(samples,
		metrics.Sample{Name: "/memory/classes/total:bytes"},
		metrics.Sample{Name: "/memory/classes/heap/released:bytes"})
	if classes < 5 {
		t.Fatalf("only %d memory classes", classes)
	}
	metrics.Read(samples)
	var sum uint64
	for _, s := range samples[:classes] {
		sum += s.Value.Uint64()
	}
	total, released := samples[classes].Value.Uint64(), samples[classes+1].Value.Uint64()
	if sum != total-released {
		t.Errorf("classes sum to %d, go.memory.used would be %d - %d = %d", sum, total, released, total-released)
	}
}
