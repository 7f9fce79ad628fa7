package govitals

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"

	"github.com/shirou/gopsutil/v4/process"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/goconv"
	"go.opentelemetry.io/otel/semconv/v1.43.0/processconv"
)

// ScopeName is the instrumentation scope of every metric this package emits.
const ScopeName = "github.com/komachi-go/komachi/otelbridge/govitals"

// Version is the instrumentation scope version.
const Version = "0.1.0"

// Names of the metrics that no semantic convention covers. They live under
// komachi.* so that a future convention can take the go.* name without a
// clash.
const (
	memoryUsedName     = "komachi.go.memory.used"
	memoryFreedName    = "komachi.go.memory.freed"
	memoryFreesName    = "komachi.go.memory.frees"
	goroutineCountName = "komachi.go.goroutine.count"

	// goroutineStateKey carries the scheduler state of
	// komachi.go.goroutine.count; semconv v1.43.0 has no such attribute.
	goroutineStateKey = "komachi.go.goroutine.state"
	// memoryDetailedTypeKey is the semconv attribute meant for exactly this
	// breakdown of go.memory.used: a /memory/classes/ path.
	memoryDetailedTypeKey = "go.memory.detailed_type"
)

// runtime/metrics keys read on every collection.
const (
	cpuUserKey     = "/cpu/classes/user:cpu-seconds"
	cpuGCKey       = "/cpu/classes/gc/total:cpu-seconds"
	cpuScavengeKey = "/cpu/classes/scavenge/total:cpu-seconds"
	cpuIdleKey     = "/cpu/classes/idle:cpu-seconds"
	gcCyclesKey    = "/gc/cycles/total:gc-cycles"
	freedBytesKey  = "/gc/heap/frees:bytes"
	freedObjsKey   = "/gc/heap/frees:objects"

	memoryClassPrefix = "/memory/classes/"
	goroutinesPrefix  = "/sched/goroutines/"
)

// Start records the Go process vitals that contrib runtime and contrib host do
// not, with one callback per collection. See the package documentation for
// the list. Unregister on the returned Registration stops the recording. A
// nil Option is ignored.
//
// Start stops no world: it reads runtime/metrics, gopsutil (on Linux,
// /proc/self) and getrusage(2), never runtime.ReadMemStats.
func Start(opts ...Option) (metric.Registration, error) {
	c := newConfig(opts)
	if c.err != nil {
		return nil, c.err
	}
	meter := c.meterProvider.Meter(ScopeName,
		metric.WithInstrumentationVersion(Version),
		metric.WithSchemaURL(semconv.SchemaURL),
	)
	v, err := newVitals(meter)
	if err != nil {
		return nil, err
	}
	reg, err := meter.RegisterCallback(v.observe, v.instruments()...)
	if err != nil {
		return nil, fmt.Errorf("govitals: register callback: %w", err)
	}
	return reg, nil
}

// indexedObservation ties a runtime/metrics sample to the attributes it is
// observed with.
type indexedObservation struct {
	sample int
	opts   []metric.ObserveOption
}

// vitals owns the instruments and every buffer a collection uses, so that the
// runtime/metrics part of a collection allocates nothing of its own.
type vitals struct {
	cpuTime         goconv.CPUTimeObservable
	gcCycles        goconv.MemoryGCCyclesObservable
	memoryUsed      metric.Int64ObservableUpDownCounter
	memoryFreed     metric.Int64ObservableCounter
	memoryFrees     metric.Int64ObservableCounter
	goroutineCount  metric.Int64ObservableUpDownCounter
	contextSwitches processconv.ContextSwitchesObservable
	fdCount         processconv.UnixFileDescriptorCountObservable
	threadCount     processconv.ThreadCountObservable
	memoryUsage     processconv.MemoryUsageObservable
	memoryVirtual   processconv.MemoryVirtualObservable
	diskIO          processconv.DiskIOObservable

	// Prebuilt attribute options, one per data point.
	voluntaryOpts, involuntaryOpts []metric.ObserveOption
	diskReadOpts, diskWriteOpts    []metric.ObserveOption

	mu         sync.Mutex // guards everything below: collections may overlap
	samples    []metrics.Sample
	cpu        []indexedObservation
	gcCycleIdx int
	freedIdx   int
	freesIdx   int
	memClasses []indexedObservation
	goroutines []indexedObservation

	proc        *process.Process // nil where gopsutil knows nothing of this process
	procSupport procSupport
	procCtx     context.Context // passed to gopsutil: which /proc it reads
	ru          rusage
}

func newVitals(meter metric.Meter) (*vitals, error) {
	v := &vitals{procSupport: procSupportOn(runtime.GOOS), procCtx: selfProcContext}
	v.proc = newProcess(v.procCtx, v.procSupport)
	var err error
	if v.cpuTime, err = goconv.NewCPUTimeObservable(meter); err != nil {
		return nil, instrumentErr(v.cpuTime.Name(), err)
	}
	if v.gcCycles, err = goconv.NewMemoryGCCyclesObservable(meter); err != nil {
		return nil, instrumentErr(v.gcCycles.Name(), err)
	}
	if v.memoryUsed, err = meter.Int64ObservableUpDownCounter(memoryUsedName,
		metric.WithUnit("By"),
		metric.WithDescription("Memory used by the Go runtime, by runtime/metrics memory class; the classes sum to go.memory.used."),
	); err != nil {
		return nil, instrumentErr(memoryUsedName, err)
	}
	if v.memoryFreed, err = meter.Int64ObservableCounter(memoryFreedName,
		metric.WithUnit("By"),
		metric.WithDescription("Heap memory freed by the garbage collector."),
	); err != nil {
		return nil, instrumentErr(memoryFreedName, err)
	}
	if v.memoryFrees, err = meter.Int64ObservableCounter(memoryFreesName,
		metric.WithUnit("{free}"),
		metric.WithDescription("Count of heap allocations freed by the garbage collector."),
	); err != nil {
		return nil, instrumentErr(memoryFreesName, err)
	}
	if v.goroutineCount, err = meter.Int64ObservableUpDownCounter(goroutineCountName,
		metric.WithUnit("{goroutine}"),
		metric.WithDescription("Approximate count of goroutines by scheduler state; runnable is the run queue."),
	); err != nil {
		return nil, instrumentErr(goroutineCountName, err)
	}
	if v.contextSwitches, err = processconv.NewContextSwitchesObservable(meter); err != nil {
		return nil, instrumentErr(v.contextSwitches.Name(), err)
	}
	if v.fdCount, err = processconv.NewUnixFileDescriptorCountObservable(meter); err != nil {
		return nil, instrumentErr(v.fdCount.Name(), err)
	}
	if v.threadCount, err = processconv.NewThreadCountObservable(meter); err != nil {
		return nil, instrumentErr(v.threadCount.Name(), err)
	}
	if v.memoryUsage, err = processconv.NewMemoryUsageObservable(meter); err != nil {
		return nil, instrumentErr(v.memoryUsage.Name(), err)
	}
	if v.memoryVirtual, err = processconv.NewMemoryVirtualObservable(meter); err != nil {
		return nil, instrumentErr(v.memoryVirtual.Name(), err)
	}
	if v.diskIO, err = processconv.NewDiskIOObservable(meter); err != nil {
		return nil, instrumentErr(v.diskIO.Name(), err)
	}

	v.voluntaryOpts = observeOpts(v.contextSwitches.AttrContextSwitchType(processconv.ContextSwitchTypeVoluntary))
	v.involuntaryOpts = observeOpts(v.contextSwitches.AttrContextSwitchType(processconv.ContextSwitchTypeInvoluntary))
	v.diskReadOpts = observeOpts(v.diskIO.AttrDiskIODirection(processconv.DiskIODirectionRead))
	v.diskWriteOpts = observeOpts(v.diskIO.AttrDiskIODirection(processconv.DiskIODirectionWrite))

	v.buildSamples()
	return v, nil
}

// buildSamples lays out the one []metrics.Sample every collection reads.
// Keys the running Go version does not know are left out, so the matching
// data points are missing rather than wrong. The memory classes and goroutine
// states are taken from metrics.All, as the runtime adds classes over time.
func (v *vitals) buildSamples() {
	known := make(map[string]bool)
	var memClasses, goroutineStates []string
	for _, d := range metrics.All() {
		known[d.Name] = true
		if isMemoryClass(d) {
			memClasses = append(memClasses, d.Name)
		}
		if isGoroutineState(d) {
			goroutineStates = append(goroutineStates, d.Name)
		}
	}
	add := func(name string) int {
		if !known[name] {
			return -1
		}
		v.samples = append(v.samples, metrics.Sample{Name: name})
		return len(v.samples) - 1
	}
	for _, c := range []struct {
		key   string
		state goconv.CPUStateAttr
	}{
		{cpuUserKey, goconv.CPUStateUser},
		{cpuGCKey, goconv.CPUStateGC},
		{cpuScavengeKey, goconv.CPUStateScavenge},
		{cpuIdleKey, goconv.CPUStateIdle},
	} {
		if i := add(c.key); i >= 0 {
			v.cpu = append(v.cpu, indexedObservation{i, observeOpts(v.cpuTime.AttrCPUState(c.state))})
		}
	}
	v.gcCycleIdx = add(gcCyclesKey)
	v.freedIdx = add(freedBytesKey)
	v.freesIdx = add(freedObjsKey)
	for _, name := range memClasses {
		class := strings.TrimSuffix(strings.TrimPrefix(name, memoryClassPrefix), ":bytes")
		v.memClasses = append(v.memClasses, indexedObservation{add(name), observeOpts(attribute.String(memoryDetailedTypeKey, class))})
	}
	for _, name := range goroutineStates {
		state := strings.TrimSuffix(strings.TrimPrefix(name, goroutinesPrefix), ":goroutines")
		v.goroutines = append(v.goroutines, indexedObservation{add(name), observeOpts(attribute.String(goroutineStateKey, state))})
	}
}

// isMemoryClass reports whether d is a leaf of /memory/classes/ that counts
// toward go.memory.used. A .../total is a sum of other classes (the runtime
// names its sums so), and released memory is address space given back to the
// OS, which go.memory.used leaves out too.
func isMemoryClass(d metrics.Description) bool {
	path, ok := strings.CutSuffix(d.Name, ":bytes")
	return ok &&
		strings.HasPrefix(path, memoryClassPrefix) &&
		d.Kind == metrics.KindUint64 &&
		path != memoryClassPrefix+"total" &&
		!strings.HasSuffix(path, "/total") &&
		path != memoryClassPrefix+"heap/released"
}

// isGoroutineState reports whether d is a per-state goroutine count, such as
// /sched/goroutines/runnable:goroutines.
func isGoroutineState(d metrics.Description) bool {
	return strings.HasPrefix(d.Name, goroutinesPrefix) &&
		strings.HasSuffix(d.Name, ":goroutines") &&
		d.Kind == metrics.KindUint64 &&
		!d.Cumulative
}

func (v *vitals) instruments() []metric.Observable {
	return []metric.Observable{
		v.cpuTime.Inst(),
		v.gcCycles.Inst(),
		v.memoryUsed,
		v.memoryFreed,
		v.memoryFrees,
		v.goroutineCount,
		v.contextSwitches.Inst(),
		v.fdCount.Inst(),
		v.threadCount.Inst(),
		v.memoryUsage.Inst(),
		v.memoryVirtual.Inst(),
		v.diskIO.Inst(),
	}
}

// observe is the one callback: one metrics.Read, then the operating system's
// numbers, each asked for once.
func (v *vitals) observe(_ context.Context, o metric.Observer) error {
	v.mu.Lock()
	defer v.mu.Unlock()

	if len(v.samples) > 0 {
		metrics.Read(v.samples)
	}
	for _, c := range v.cpu {
		if s := v.samples[c.sample].Value; s.Kind() == metrics.KindFloat64 {
			o.ObserveFloat64(v.cpuTime.Inst(), s.Float64(), c.opts...)
		}
	}
	if n, ok := v.uint(v.gcCycleIdx); ok {
		o.ObserveInt64(v.gcCycles.Inst(), n)
	}
	if n, ok := v.uint(v.freedIdx); ok {
		o.ObserveInt64(v.memoryFreed, n)
	}
	if n, ok := v.uint(v.freesIdx); ok {
		o.ObserveInt64(v.memoryFrees, n)
	}
	for _, c := range v.memClasses {
		if n, ok := v.uint(c.sample); ok {
			o.ObserveInt64(v.memoryUsed, n, c.opts...)
		}
	}
	for _, c := range v.goroutines {
		if n, ok := v.uint(c.sample); ok {
			o.ObserveInt64(v.goroutineCount, n, c.opts...)
		}
	}

	v.observeProcess(o)
	return nil
}

// uint returns sample i as an int64 when it holds a uint64.
func (v *vitals) uint(i int) (int64, bool) {
	if i < 0 {
		return 0, false
	}
	s := v.samples[i].Value
	if s.Kind() != metrics.KindUint64 {
		return 0, false
	}
	return clampInt64(s.Uint64()), true
}

func clampInt64(u uint64) int64 {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}

func observeOpts(kv attribute.KeyValue) []metric.ObserveOption {
	return []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(kv))}
}

func instrumentErr(name string, err error) error {
	return fmt.Errorf("govitals: create instrument %s: %w", name, err)
}
