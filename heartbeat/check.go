package heartbeat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// entry is a vital as New resolved it: its name read once, its timeout fixed.
type entry struct {
	vital   Vital
	name    string
	timeout time.Duration
}

// result is the outcome of one vital in one run.
type result struct {
	ok       bool
	start    time.Time
	duration time.Duration
	err      error
}

// report is one run of all vitals, with everything a request needs already
// rendered: serving it is a pointer load and a few map assignments.
type report struct {
	at         time.Time // end of the run; the TTL counts from here
	ok         bool
	results    []result // same order as checker.entries
	verbose    []byte   // health+json body
	verboseLen []string // Content-Length of verbose
}

// call is one run shared by every caller that arrives while it is in flight.
type call struct {
	done chan struct{}
	rep  *report // written before done is closed
}

// checker runs the vitals: at most one run at a time, shared by all callers
// that want a result while it runs, and cached for ttl (or, in background
// mode, until the next run replaces it).
type checker struct {
	entries []entry
	ttl     time.Duration
	details bool
	now     func() time.Time // time.Now; a fixed clock in tests

	background atomic.Bool // while true, any report is fresh: the loop keeps it so
	last       atomic.Pointer[report]

	mu       sync.Mutex
	inflight *call
}

// fresh reports whether rep may answer a request without a new run.
func (c *checker) fresh(rep *report) bool {
	return rep != nil && (c.background.Load() || c.now().Sub(rep.at) < c.ttl)
}

// get returns a fresh report, starting or joining a run when the cached one
// is stale. It returns nil only if ctx ends first (the client went away);
// the run goes on for the callers that remain.
func (c *checker) get(ctx context.Context) *report {
	if rep := c.last.Load(); c.fresh(rep) {
		return rep
	}
	c.mu.Lock()
	// A run may have ended between the load above and the lock.
	if rep := c.last.Load(); c.fresh(rep) {
		c.mu.Unlock()
		return rep
	}
	cl := c.startLocked()
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.rep
	case <-ctx.Done():
		return nil
	}
}

// refresh starts a run (or joins the one in flight) and waits for it; the
// background loop's step.
func (c *checker) refresh() {
	c.mu.Lock()
	cl := c.startLocked()
	c.mu.Unlock()
	<-cl.done
}

// startLocked returns the run in flight, starting one if none is. The run
// has its own goroutine so that no request's cancellation can cut it short
// for the others.
func (c *checker) startLocked() *call {
	if c.inflight == nil {
		cl := &call{done: make(chan struct{})}
		c.inflight = cl
		go c.runCall(cl)
	}
	return c.inflight
}

func (c *checker) runCall(cl *call) {
	rep := c.run()
	c.mu.Lock()
	c.last.Store(rep)
	c.inflight = nil
	c.mu.Unlock()
	cl.rep = rep
	close(cl.done)
}

// run checks every vital in parallel and renders the report. It returns
// once every vital has returned or timed out, so it is bounded by the
// largest timeout whatever the vitals do.
func (c *checker) run() *report {
	results := make([]result, len(c.entries))
	var wg sync.WaitGroup
	for i := range c.entries {
		wg.Go(func() { results[i] = c.checkOne(&c.entries[i]) })
	}
	wg.Wait()
	rep := &report{at: c.now(), ok: true, results: results}
	for _, r := range results {
		rep.ok = rep.ok && r.ok
	}
	rep.verbose = c.render(rep)
	rep.verboseLen = []string{strconv.Itoa(len(rep.verbose))}
	return rep
}

// checkOne runs one vital in its own goroutine and waits for it or for its
// timeout, whichever comes first. The channel is buffered to one so the
// goroutine can always deliver and end, even after nobody waits.
func (c *checker) checkOne(e *entry) result {
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	start := c.now()
	done := make(chan error, 1)
	go func() {
		returned := false
		defer func() {
			if returned {
				return
			}
			// A panic is the vital's failure, never the process's.
			if p := recover(); p != nil {
				done <- fmt.Errorf("%w: %v", ErrPanic, p)
			} else {
				done <- fmt.Errorf("%w: runtime.Goexit called", ErrPanic)
			}
		}()
		err := e.vital.Check(ctx)
		returned = true
		done <- err
	}()
	var err error
	select {
	case err = <-done:
		switch {
		case err == nil || ctx.Err() == nil:
		case errors.Is(err, context.DeadlineExceeded):
			// The check gave up at its deadline: the same words as when it
			// does not return at all, whichever the select saw first.
			err = fmt.Errorf("%w after %v", ErrTimeout, e.timeout)
		default:
			err = fmt.Errorf("%w after %v: %w", ErrTimeout, e.timeout, err)
		}
	case <-ctx.Done():
		err = fmt.Errorf("%w after %v", ErrTimeout, e.timeout)
	}
	return result{ok: err == nil, start: start, duration: c.now().Sub(start), err: err}
}

// healthJSON is the shape of draft-inadarei-api-health-check: an overall
// status, and per vital ("checks") its status and how long its check took.
type healthJSON struct {
	Status string                 `json:"status"`
	Output string                 `json:"output,omitempty"`
	Checks map[string][]checkJSON `json:"checks,omitempty"`
}

type checkJSON struct {
	Status        string  `json:"status"`
	ObservedValue float64 `json:"observedValue"`
	ObservedUnit  string  `json:"observedUnit"`
	Time          string  `json:"time"`
	Output        string  `json:"output,omitempty"`
}

func status(ok bool) string {
	if ok {
		return "pass"
	}
	return "fail"
}

// render builds the verbose body once per run, not per request.
func (c *checker) render(rep *report) []byte {
	doc := healthJSON{Status: status(rep.ok)}
	if len(c.entries) > 0 {
		doc.Checks = make(map[string][]checkJSON, len(c.entries))
	}
	for i, r := range rep.results {
		cj := checkJSON{
			Status:        status(r.ok),
			ObservedValue: r.duration.Seconds(),
			ObservedUnit:  "s",
			Time:          r.start.UTC().Format(time.RFC3339Nano),
		}
		if c.details && r.err != nil {
			cj.Output = r.err.Error()
		}
		doc.Checks[c.entries[i].name] = []checkJSON{cj}
	}
	return encodeJSON(doc)
}

func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		// Only strings, numbers and maps of them: cannot fail.
		panic(errors.Join(errors.New("heartbeat: rendering health JSON"), err))
	}
	return buf.Bytes()
}
