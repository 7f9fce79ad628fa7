// Package govitals records the Go process vitals that the OpenTelemetry
// contrib instrumentations leave out, so that contrib runtime (with its
// NewProducer), contrib host and this package together show the equivalent
// of every vital the Elixir KomachiHeartbeat library shows for the BEAM.
//
// It never emits a metric that contrib runtime v0.72.0 or contrib host
// v0.72.0 emit, and it never stops the world: it reads runtime/metrics,
// gopsutil and getrusage(2), never runtime.ReadMemStats. [Start] registers
// one callback that, per collection and no more often, does one
// metrics.Read into a preallocated []metrics.Sample and asks the operating
// system once for each of its numbers. [NewProducer] adds the GC pause
// histogram.
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
//	process.unix.file_descriptor.count  {file_descriptor}  -                                         gopsutil NumFDs              linux darwin
//	process.thread.count                {thread}           -                                         gopsutil NumThreads          linux darwin freebsd windows
//	process.memory.usage                By                 -                                         gopsutil MemoryInfo RSS      linux darwin freebsd windows
//	process.memory.virtual              By                 -                                         gopsutil MemoryInfo VMS      linux darwin freebsd windows
//	process.disk.io                     By                 disk.io.direction (read write)            gopsutil IOCounters          linux darwin
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
//   - The gopsutil numbers are, on Linux, Threads of /proc/self/status, the
//     first two fields of /proc/self/statm, read_bytes and write_bytes of
//     /proc/self/io, and the entries of /proc/self/fd less the one gopsutil
//     opens to list them; on macOS, proc_pidinfo and proc_pid_rusage; on
//     FreeBSD, the kern.proc sysctl; on Windows, the process snapshot and
//     GetProcessMemoryInfo (working set and pagefile usage). They are always
//     this process's own: HOST_PROC, which points gopsutil at a host's /proc,
//     is not followed. Where gopsutil answers with a stand-in rather than
//     the kernel's number, as for several numbers on OpenBSD and Windows and
//     for IO on FreeBSD, it is not asked.
//   - A number that cannot be read (a /proc file masked in a sandbox, a
//     kernel without task IO accounting, no descriptor left to list
//     /proc/self/fd) is left out of that collection without an error, and
//     asked for again at the next one; the other metrics are recorded.
//   - process.disk.io counts bytes that reached the storage layer, not
//     page-cache hits.
//   - process.network.io is not emitted: Linux does not count network bytes
//     per process (/proc/self/net/dev counts the whole network namespace,
//     sidecars included), and a made-up number is worse than none. Use
//     contrib host's system.network.io.
//   - go.memory.gc.pause.duration is explained at [NewProducer].
//
// # Seed vitals
//
// Which of these metrics stands for which KomachiHeartbeat vital is tabled
// once, in the komachi README ("The seed library's vitals in Go"). BEAM
// schedulers have no per-scheduler Go counterpart: goroutines are not pinned
// to a P, so scheduler usage is reported for the process as a whole.
package govitals
