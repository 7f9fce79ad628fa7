package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"syscall"
	"time"
)

// Usage is a process's resource use so far, read in that process.
type Usage struct {
	CPU        time.Duration `json:"cpu_ns"`      // user + system time (getrusage)
	Mallocs    uint64        `json:"mallocs"`     // heap objects allocated
	AllocBytes uint64        `json:"alloc_bytes"` // heap bytes allocated
	GCs        uint32        `json:"gcs"`
	HeapLive   uint64        `json:"heap_objects_bytes"` // /memory/classes/heap/objects:bytes
	RSS        uint64        `json:"rss_bytes"`          // VmRSS
	PeakRSS    uint64        `json:"peak_rss_bytes"`     // VmHWM
}

// ReadUsage reads the current process's usage. It calls
// runtime.ReadMemStats (a short stop of the world) for exact allocation
// counts, so call it only between measurements.
func ReadUsage() (Usage, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return Usage{}, fmt.Errorf("harness: getrusage: %w", err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	u := Usage{
		CPU:        time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		Mallocs:    ms.Mallocs,
		AllocBytes: ms.TotalAlloc,
		GCs:        ms.NumGC,
		HeapLive:   s[0].Value.Uint64(),
	}
	u.RSS, u.PeakRSS = readRSS()
	return u, nil
}

// readRSS reads VmRSS and VmHWM from /proc/self/status; zeros elsewhere.
func readRSS() (rss, peak uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for line := range bytes.Lines(b) {
		var dst *uint64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &rss
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &peak
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) >= 2 {
			kb, _ := strconv.ParseUint(string(f[1]), 10, 64)
			*dst = kb << 10
		}
	}
	return rss, peak
}

// UsageHandler answers GET with the process's Usage as JSON: the serve
// command's admin endpoint, on its own listener.
func UsageHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		u, err := ReadUsage()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(u)
	})
}

// FetchUsage reads a UsageHandler over HTTP.
func FetchUsage(ctx context.Context, url string) (Usage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Usage{}, fmt.Errorf("harness: usage url %q: %w", url, err)
	}
	// No keep-alive: two reads per cell, and nothing left open after.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return Usage{}, fmt.Errorf("harness: usage: %w", err)
	}
	defer resp.Body.Close()
	var u Usage
	if resp.StatusCode != http.StatusOK {
		return u, fmt.Errorf("harness: usage: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
		return u, fmt.Errorf("harness: usage: %w", err)
	}
	return u, nil
}
