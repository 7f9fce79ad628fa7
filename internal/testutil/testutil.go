// Package testutil holds the small helpers more than one package's tests
// need, so that each exists once. It imports only the standard library, so
// that any module of the repository can use it; the OTLP collectors, which
// need gRPC, are in otlptest.
package testutil

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer safe for concurrent use: a log handler writes
// into it from the goroutines under test while the test reads it. It
// reports every write on its Notifier, for Await.
type SyncBuffer struct {
	Notifier
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.b.Write(p)
	s.mu.Unlock()
	s.Notify()
	return n, err
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Notifier wakes whoever awaits a change; its zero value is ready. It holds
// one wake-up at most, which is enough, as the waiter checks its condition
// again after every wake-up.
type Notifier struct {
	once sync.Once
	ch   chan struct{}
}

func (n *Notifier) channel() chan struct{} {
	n.once.Do(func() { n.ch = make(chan struct{}, 1) })
	return n.ch
}

// Changed returns the channel a change is reported on.
func (n *Notifier) Changed() <-chan struct{} { return n.channel() }

// Notify reports a change; it never blocks.
func (n *Notifier) Notify() {
	select {
	case n.channel() <- struct{}{}:
	default:
	}
}

// awaitLimit only bounds a broken test; Await asserts nothing about speed.
const awaitLimit = 30 * time.Second

// Await checks cond after each change reported on changed (a Notifier's
// Changed), until it holds, and fails the test after 30 s naming what.
func Await(t testing.TB, what string, changed <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(awaitLimit)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", awaitLimit, what)
		}
	}
}
