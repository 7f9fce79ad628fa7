// Package govitals records the Go process vitals that the OpenTelemetry
// contrib instrumentations leave out, so that contrib runtime (with its
// NewProducer), contrib host and this package together show the equivalent
// of every vital the Elixir KomachiHeartbeat library shows for the BEAM.
//
// It never emits a metric that contrib runtime v0.72.0 or contrib host
// v0.72.0 emit, and it never stops the world: it reads runtime/metrics,
// /proc/self and getrusage(2), never runtime.ReadMemStats. [Start] registers
// one callback that, per collection and no more often, does one
// metrics.Read into a preallocated []metrics.Sample and reads each /proc file
// once into buffers it keeps. [NewProducer] adds the GC pause histogram.
//
// # Metrics
//
// Names, units and attributes follow the semantic conventions v1.43.0
// (goconv, processconv). What no convention covers is named komachi.* so as
// not to squat a go.* name a future convention may define differently.
//
//	metric                              unit               attribute (values)                        source                       platform
//	go.cpu.time                         s                  go.cpu.state (user gc scavenge idle)      /cpu/classes/...             all
//	go.memory.gc.cycles                 {gc_cycle}         -                                         /gc/cycles/total             all
//	go.memory.gc.pause.duration         s (histogram)      -                                         /sched/pauses/total/gc       all, NewProducer
//	komachi.go.memory.used              By                 go.memory.detailed_type (heap/objects …)  /memory/classes/...          all
//	komachi.go.memory.freed             By                 -                                         /gc/heap/frees:bytes         all
//	komachi.go.memory.frees             {free}             -                                         /gc/heap/frees:objects       all
//	komachi.go.goroutine.count          {goroutine}        komachi.go.goroutine.state (running       /sched/goroutines/...        all (Go 1.26+)
//	                                                       runnable waiting not-in-go)
//	process.context_switches            {context_switch}   process.context_switch.type               getrusage(RUSAGE_SELF)       unix
//	                                                       (voluntary involuntary)
//	process.unix.file_descriptor.count  {file_descriptor}  -                                         /proc/self/fd                linux
//	process.thread.count                {thread}           -                                         /proc/self/status Threads    linux
//	process.memory.usage                By                 -                                         /proc/self/status VmRSS      linux
//	process.memory.virtual              By                 -                                         /proc/self/status VmSize     linux
//	process.disk.io                     By                 disk.io.direction (read write)            /proc/self/io                linux
//
// Counters (go.cpu.time, go.memory.gc.cycles, komachi.go.memory.freed and
// .frees, process.context_switches, process.disk.io) are cumulative
// observable counters; the others are observable up-down counters.
//
// Things worth knowing when reading them:
//
//   - go.cpu.time is the runtime's estimate, brought up to date only at the
//     end of each GC cycle; it steps rather than flows. Divided by
//     go.processor.limit × elapsed time it gives the scheduler usage; the
//     four states sum to GOMAXPROCS × wall time.
//   - komachi.go.memory.used splits go.memory.used by runtime memory class:
//     every leaf of /memory/classes/ except heap/released, so its data points
//     sum to go.memory.used. The classes are taken from metrics.All, as each
//     Go release may add some. It is not named go.memory.used, which semconv
//     defines for this attribute, because contrib runtime already emits
//     go.memory.used and one name must come from one scope.
//   - komachi.go.goroutine.count{runnable} is the run queue length; the
//     runtime calls these counts approximate, and they need not add up to
//     go.goroutine.count.
//   - process.context_switches comes from getrusage, which sums every thread
//     of the process, exited ones included; the counters in
//     /proc/self/status only cover the main thread.
//   - process.disk.io counts bytes that reached the storage layer (read_bytes
//     and write_bytes), not page-cache hits. When /proc/self/io cannot be
//     read (a kernel without task IO accounting, a sandbox), the metric is
//     left out without an error; so is every /proc metric when /proc is
//     missing. Content that does not parse makes the callback return an
//     error, and the other metrics are still recorded.
//   - process.network.io is not emitted: Linux does not count network bytes
//     per process (/proc/self/net/dev counts the whole network namespace,
//     sidecars included), and a made-up number is worse than none. Use
//     contrib host's system.network.io.
//   - go.memory.gc.pause.duration is explained at [NewProducer].
//
// # Seed vitals and where their counterparts come from
//
//	seed key                       Go metric                                               emitted by
//	process_count                  go.goroutine.count                                      contrib runtime
//	run_queue                      go.schedule.duration (histogram)                        contrib runtime NewProducer
//	                               komachi.go.goroutine.count{runnable}                    govitals
//	reductions                     go.cpu.time{go.cpu.state=user}                          govitals
//	scheduler_usage.<id>           go.cpu.time by go.cpu.state, with go.processor.limit    govitals, contrib runtime
//	                               process.cpu.time{cpu.mode}                              contrib host
//	context_switches               process.context_switches                                govitals
//	gc.count                       go.memory.gc.cycles                                     govitals
//	gc.words_reclaimed             komachi.go.memory.freed, komachi.go.memory.frees        govitals
//	                               go.memory.allocated, go.memory.allocations              contrib runtime
//	(GC pauses)                    go.memory.gc.pause.duration                             govitals NewProducer
//	io.in, io.out                  system.network.io{network.io.direction}                 contrib host
//	                               process.disk.io{disk.io.direction}                      govitals
//	memory.processes               go.memory.used{go.memory.type}, go.memory.gc.goal,      contrib runtime
//	                               go.memory.limit
//	memory.binary, .code, .ets,    komachi.go.memory.used{go.memory.detailed_type}         govitals
//	.atom
//	port_count                     process.unix.file_descriptor.count                      govitals
//	(threads)                      process.thread.count                                    govitals
//	(RSS)                          process.memory.usage, process.memory.virtual            govitals
//
// BEAM schedulers have no per-scheduler Go counterpart: goroutines are not
// pinned to a P, so scheduler usage is reported for the process as a whole.
package govitals
