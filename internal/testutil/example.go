package testutil

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// GoBuild builds pkg (an import path, or "." for dir itself) in the module
// that holds dir, into the test's temporary directory, and returns the
// binary's path.
func GoBuild(t testing.TB, dir, pkg string) string {
	t.Helper()
	name := path.Base(pkg)
	if pkg == "." {
		abs, err := filepath.Abs(dir)
		if err != nil {
			t.Fatal(err)
		}
		name = filepath.Base(abs)
	}
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s in %s: %v\n%s", pkg, dir, err, out)
	}
	return bin
}

// configures tells whether the variable kv ("NAME=value") would switch
// OTLP forwarding or graph posting on, change the window, or pick the port.
func configures(kv string) bool {
	name, _, _ := strings.Cut(kv, "=")
	return name == "PORT" || strings.HasPrefix(name, "OTEL_") ||
		strings.HasPrefix(name, "MACKEREL_") || strings.HasPrefix(name, "KOMACHI_")
}

// CleanEnv is this process's environment without the variables that would
// switch OTLP forwarding or graph posting on, change the window, or pick
// the port: a child process starts from the defaults.
func CleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), configures)
}

// ClearEnv unsets those same variables in this process, for a TestMain
// whose package reads them: nothing from the machine running the tests
// mixes in, and each test sets its own with t.Setenv.
func ClearEnv() {
	for _, kv := range os.Environ() {
		if configures(kv) {
			name, _, _ := strings.Cut(kv, "=")
			_ = os.Unsetenv(name)
		}
	}
}

// Poll asks ok every 50 ms until it holds, and fails the test after d
// naming what. It is for what no channel reports, such as another process.
func Poll(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

// readyPath is where an example answers readiness: the examples mount
// komachi under /ops.
const readyPath = "/ops/heartbeat"

// Example is an example's binary running on a loopback port.
type Example struct {
	// Base is the URL it serves, "http://127.0.0.1:port".
	Base string
	// Stderr is what it has written to its standard error so far.
	Stderr *SyncBuffer

	t      testing.TB
	cmd    *exec.Cmd
	client *http.Client
	done   chan struct{} // closed once cmd.Wait has returned, with err set
	err    error
}

// StartExample builds the main package in dir (relative to the test's
// directory, in the module that holds it) and runs it with args and
// -addr on a free loopback port, in CleanEnv plus env. It returns once
// the example answers ready on /ops/heartbeat; the test fails if it does
// not within 30 s. The process is killed at the end of the test if it is
// still running.
func StartExample(t testing.TB, dir string, args []string, env ...string) *Example {
	t.Helper()
	bin := GoBuild(t, dir, ".")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()

	e := &Example{
		Base:   "http://" + addr,
		Stderr: &SyncBuffer{},
		t:      t,
		cmd:    exec.Command(bin, append(slices.Clone(args), "-addr", addr)...),
		client: &http.Client{Timeout: 5 * time.Second},
		done:   make(chan struct{}),
	}
	e.cmd.Env = append(CleanEnv(), env...)
	e.cmd.Stderr = e.Stderr
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Only the goroutine calls Wait: the others must not read
	// cmd.ProcessState, which Wait writes.
	go func() { e.err = e.cmd.Wait(); close(e.done) }()
	t.Cleanup(func() {
		select {
		case <-e.done:
		default:
			_ = e.cmd.Process.Kill()
			<-e.done
		}
		e.client.CloseIdleConnections()
	})

	Poll(t, 30*time.Second, "the example's readiness", func() bool {
		select {
		case <-e.done:
			t.Fatalf("the example exited before it was ready: %v\n%s", e.err, e.Stderr)
		default:
		}
		code, body := e.Get(readyPath)
		return code == http.StatusOK && string(body) == "heartbeat:ok"
	})
	return e
}

// Get is Do with GET.
func (e *Example) Get(path string) (int, []byte) {
	return e.Do(http.MethodGet, path)
}

// Do sends a request without a body to the example's path and returns the
// status and body; a request that fails answers 0 and the error's text, so
// that polls go on.
func (e *Example) Do(method, path string) (int, []byte) {
	req, err := http.NewRequest(method, e.Base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, []byte(err.Error())
	}
	return resp.StatusCode, b
}

// Signal sends sig to the example.
func (e *Example) Signal(sig os.Signal) error {
	return e.cmd.Process.Signal(sig)
}

// Wait returns how the example exited, and fails the test if it has not
// within d.
func (e *Example) Wait(d time.Duration) error {
	e.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-e.done:
		return e.err
	case <-timer.C:
		e.t.Fatalf("the example did not exit within %v\n%s", d, e.Stderr)
		return nil
	}
}

// statsPath is where an example serves /stats.
const statsPath = "/ops/stats"

// Stats returns the example's /ops/stats document; the test fails unless it
// answers 200.
func (e *Example) Stats() []byte {
	e.t.Helper()
	code, body := e.Get(statsPath)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s = %d %s", statsPath, code, body)
	}
	return body
}

// NextStats waits for a /ops/stats document other than prev and returns it:
// a document is rendered once a window, so a new one means a window closed.
func (e *Example) NextStats(prev []byte) []byte {
	e.t.Helper()
	var doc []byte
	Poll(e.t, 20*time.Second, "the next window's document", func() bool {
		doc = e.Stats()
		return !bytes.Equal(doc, prev)
	})
	return doc
}
