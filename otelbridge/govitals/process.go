package govitals

import (
	"context"
	"os"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/process"
	"go.opentelemetry.io/otel/metric"
)

// procSupport says which numbers gopsutil reads from the kernel on a
// platform. Elsewhere gopsutil either fails, which would leave the number out
// anyway, or answers with a stand-in that is worse than no number: a thread
// count of 1 on OpenBSD, block-operation counts with zero bytes for IO on the
// BSDs, all IO rather than storage IO on Windows, and the handle count for
// NumFDs on Windows.
type procSupport struct {
	threads, memory, diskIO, fds bool
	// listingFDs is how many descriptors gopsutil itself holds open while it
	// counts them: on Linux, the one for listing /proc/self/fd.
	listingFDs int64
}

func procSupportOn(goos string) procSupport {
	switch goos {
	case "linux":
		return procSupport{threads: true, memory: true, diskIO: true, fds: true, listingFDs: 1}
	case "darwin":
		return procSupport{threads: true, memory: true, diskIO: true, fds: true}
	case "freebsd", "windows":
		return procSupport{threads: true, memory: true}
	}
	return procSupport{}
}

// selfProcContext pins gopsutil to this process's own /proc. HOST_PROC, set
// in containers that mount the host's /proc for host metrics, would otherwise
// make it read the host's process that has our PID in another namespace.
var selfProcContext = context.WithValue(context.Background(),
	common.EnvKey, common.EnvMap{common.HostProcEnvKey: "/proc"})

// newProcess returns this process as gopsutil sees it, or nil where gopsutil
// can tell nothing about it.
func newProcess(ctx context.Context, support procSupport) *process.Process {
	if support == (procSupport{}) {
		return nil
	}
	p, err := process.NewProcessWithContext(ctx, int32(os.Getpid()))
	if err != nil {
		return nil
	}
	return p
}

// observeProcess observes what the operating system says about the process:
// one gopsutil call per number (on Linux, one /proc/self file or directory
// each) and getrusage(2). The caller holds v.mu: gopsutil's Process caches
// what it parses in its own fields and is not safe for concurrent use.
//
// A number the platform cannot give, or cannot give this time (a /proc file
// masked in a sandbox, no descriptor left to list /proc/self/fd), is left out
// of this collection rather than failing it; the next collection asks again.
func (v *vitals) observeProcess(o metric.Observer) {
	if p, has, ctx := v.proc, v.procSupport, v.procCtx; p != nil {
		if has.threads {
			if n, err := p.NumThreadsWithContext(ctx); err == nil {
				o.ObserveInt64(v.threadCount.Inst(), int64(n))
			}
		}
		if has.memory {
			if m, err := p.MemoryInfoWithContext(ctx); err == nil {
				o.ObserveInt64(v.memoryUsage.Inst(), clampInt64(m.RSS))
				o.ObserveInt64(v.memoryVirtual.Inst(), clampInt64(m.VMS))
			}
		}
		if has.diskIO {
			if io, err := p.IOCountersWithContext(ctx); err == nil {
				o.ObserveInt64(v.diskIO.Inst(), clampInt64(io.DiskReadBytes), v.diskReadOpts...)
				o.ObserveInt64(v.diskIO.Inst(), clampInt64(io.DiskWriteBytes), v.diskWriteOpts...)
			}
		}
		if has.fds {
			if n, err := p.NumFDsWithContext(ctx); err == nil {
				o.ObserveInt64(v.fdCount.Inst(), max(int64(n)-has.listingFDs, 0))
			}
		}
	}

	// /proc/self/status, which gopsutil's NumCtxSwitches reads, counts the
	// context switches of the main thread only; getrusage sums every thread,
	// dead ones included.
	if vol, invol, ok := contextSwitches(&v.ru); ok {
		o.ObserveInt64(v.contextSwitches.Inst(), vol, v.voluntaryOpts...)
		o.ObserveInt64(v.contextSwitches.Inst(), invol, v.involuntaryOpts...)
	}
}
