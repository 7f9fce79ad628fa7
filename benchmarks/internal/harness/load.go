package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Cell is one load run: Conns keep-alive connections, each a client
// looping GET URL for Duration after Warmup.
type Cell struct {
	URL      string
	Conns    int
	Gzip     bool // send Accept-Encoding: gzip, and read the body as it comes
	Warmup   time.Duration
	Duration time.Duration
	// MaxRequests bounds the requests of the timed run, all connections
	// together; zero means 10 million.
	MaxRequests int
	// Before and After run around the timed run, after the warm-up: the
	// server's usage is read there.
	Before, After func(context.Context) error
}

// Result is what a cell measured, client side.
type Result struct {
	Requests  uint64
	Errors    uint64
	Bytes     uint64 // body bytes read, over all requests
	Elapsed   time.Duration
	Latency   Latency
	Encodings map[string]uint64 // Content-Encoding of the answers ("" for none)
}

// Throughput is requests per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Run runs the cell: the warm-up opens the connections, the timed run uses
// them. It returns the first error that stopped it (a failed request is
// counted, not returned, unless no request succeeded).
func Run(ctx context.Context, c Cell) (*Result, error) {
	if c.Conns < 1 || c.Duration <= 0 {
		return nil, fmt.Errorf("harness: a cell needs conns ≥ 1 and a duration > 0 (got %d, %v)", c.Conns, c.Duration)
	}
	maxReq := c.MaxRequests
	if maxReq <= 0 {
		maxReq = 10_000_000
	}
	workers := make([]*worker, c.Conns)
	for i := range workers {
		w, err := newWorker(ctx, c)
		if err != nil {
			return nil, err
		}
		workers[i] = w
		defer w.client.CloseIdleConnections()
	}
	if c.Warmup > 0 {
		runWorkers(workers, time.Now().Add(c.Warmup), maxReq)
		for _, w := range workers {
			w.reset()
		}
	}
	if c.Before != nil {
		if err := c.Before(ctx); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	runWorkers(workers, start.Add(c.Duration), maxReq)
	res := &Result{Elapsed: time.Since(start), Encodings: map[string]uint64{}}
	if c.After != nil {
		if err := c.After(ctx); err != nil {
			return nil, err
		}
	}
	var firstErr error
	for _, w := range workers {
		res.Requests += w.requests
		res.Errors += w.errors
		res.Bytes += w.bytes
		res.Latency.Merge(&w.latency)
		for k, v := range w.encodings {
			res.Encodings[k] += v
		}
		if firstErr == nil {
			firstErr = w.firstErr
		}
	}
	if res.Requests == 0 {
		return res, fmt.Errorf("harness: no request to %s succeeded: %w", c.URL, errors.Join(firstErr, errors.New("no answer")))
	}
	return res, nil
}

func runWorkers(workers []*worker, deadline time.Time, maxReq int) {
	var wg sync.WaitGroup
	per := max(1, maxReq/len(workers))
	for _, w := range workers {
		wg.Go(func() { w.loop(deadline, per) })
	}
	wg.Wait()
}

type worker struct {
	client    *http.Client
	req       *http.Request
	requests  uint64
	errors    uint64
	bytes     uint64
	latency   Latency
	encodings map[string]uint64
	firstErr  error
}

func newWorker(ctx context.Context, c Cell) (*worker, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("harness: -url %q: %w", c.URL, err)
	}
	if c.Gzip {
		// Set by hand, the transport leaves the body compressed: the load
		// generator does not spend the shared CPU on inflating it.
		req.Header.Set("Accept-Encoding", "gzip")
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     time.Minute,
	}
	return &worker{
		client:    &http.Client{Transport: tr, Timeout: 30 * time.Second},
		req:       req,
		encodings: map[string]uint64{},
	}, nil
}

func (w *worker) reset() {
	*w = worker{client: w.client, req: w.req, encodings: map[string]uint64{}}
}

func (w *worker) loop(deadline time.Time, maxReq int) {
	for n := 0; n < maxReq; n++ {
		t0 := time.Now()
		if !t0.Before(deadline) {
			return
		}
		resp, err := w.client.Do(w.req)
		if err == nil {
			var m int64
			m, err = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("harness: %s answered %s", w.req.URL, resp.Status)
			}
			if err == nil {
				w.latency.Record(time.Since(t0))
				w.requests++
				w.bytes += uint64(m)
				w.encodings[resp.Header.Get("Content-Encoding")]++
				continue
			}
		}
		w.errors++
		if w.firstErr == nil {
			w.firstErr = err
		}
		if w.req.Context().Err() != nil {
			return
		}
	}
}
