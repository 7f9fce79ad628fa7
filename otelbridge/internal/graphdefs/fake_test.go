package graphdefs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKey has characters that URL-escaping changes, so that both forms are
// looked for in the logs.
const testKey = "test+key/0123456789abcdef="

// Mackerel's documented rules for a graph definition, written out here
// independently of the code under test.
var (
	mackerelName  = regexp.MustCompile(`^custom(\.([-a-zA-Z0-9_]+|[*#]))+$`)
	mackerelUnits = []string{"float", "integer", "percentage", "seconds", "milliseconds", "bytes", "bytes/sec", "bits/sec", "iops"}
)

// graphDef is the documented JSON of POST /api/v0/graph-defs/create.
type graphDef struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Unit        string `json:"unit"`
	Metrics     []struct {
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
		IsStacked   bool   `json:"isStacked"`
	} `json:"metrics"`
}

// received is one request the fake accepted as well formed.
type received struct {
	at     time.Time
	status int
	defs   []graphDef
}

// fakeMackerel checks each request as Mackerel would and answers from a
// script of statuses (the last one repeats). Requests it refuses as
// malformed fail the test.
type fakeMackerel struct {
	t      *testing.T
	prefix string

	mu       sync.Mutex
	statuses []int
	got      []received
	arrived  chan struct{} // one token per request, if not nil
}

func newFake(t *testing.T, prefix string, statuses ...int) *fakeMackerel {
	if len(statuses) == 0 {
		statuses = []int{http.StatusOK}
	}
	return &fakeMackerel{t: t, prefix: prefix, statuses: statuses}
}

func (f *fakeMackerel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defs, problem := f.check(r)
	if problem != "" {
		f.t.Errorf("fake Mackerel: %s", problem)
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":%q}}`, problem)
		return
	}
	f.mu.Lock()
	status := f.statuses[min(len(f.got), len(f.statuses)-1)]
	f.got = append(f.got, received{at: time.Now(), status: status, defs: defs})
	arrived := f.arrived
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status == http.StatusOK {
		fmt.Fprint(w, `{"success":true}`)
	} else {
		// A body that echoes the key, as a misbehaving proxy might: the
		// poster must scrub it from what it logs.
		fmt.Fprintf(w, `{"error":{"message":"refused X-Api-Key %s (%s)"}}`, r.Header.Get("X-Api-Key"), "test%2Bkey%2F0123456789abcdef%3D")
	}
	if arrived != nil {
		arrived <- struct{}{}
	}
}

func (f *fakeMackerel) check(r *http.Request) ([]graphDef, string) {
	switch {
	case r.Method != http.MethodPost:
		return nil, "method " + r.Method
	case r.URL.Path != "/api/v0/graph-defs/create":
		return nil, "path " + r.URL.Path
	case r.Header.Get("X-Api-Key") != testKey:
		return nil, "wrong X-Api-Key"
	case r.Header.Get("Content-Type") != "application/json":
		return nil, "Content-Type " + r.Header.Get("Content-Type")
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, "reading the body: " + err.Error()
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	var defs []graphDef
	if err := dec.Decode(&defs); err != nil {
		return nil, "body: " + err.Error()
	}
	if len(defs) == 0 {
		return nil, "empty array"
	}
	for _, d := range defs {
		if p := checkDef(d, f.prefix); p != "" {
			return nil, fmt.Sprintf("graph %q: %s", d.Name, p)
		}
	}
	return defs, ""
}

func checkDef(d graphDef, prefix string) string {
	if !mackerelName.MatchString(d.Name) || strings.Count(d.Name, "#") > 1 {
		return "name breaks Mackerel's rules"
	}
	if !strings.HasPrefix(d.Name, "custom."+prefix+".") {
		return "name is not under custom." + prefix
	}
	if !slices.Contains(mackerelUnits, d.Unit) {
		return "unit " + d.Unit + " is not Mackerel's"
	}
	if len(d.Metrics) == 0 {
		return "no metrics"
	}
	for _, m := range d.Metrics {
		leaf, ok := strings.CutPrefix(m.Name, d.Name+".")
		if !ok || strings.Contains(leaf, ".") {
			return "metric " + m.Name + " is not <graph name>.<one element>"
		}
		if !mackerelName.MatchString(m.Name) || strings.Count(m.Name, "#") > 1 {
			return "metric " + m.Name + " breaks Mackerel's rules"
		}
	}
	return ""
}

func (f *fakeMackerel) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// handlerTransport serves requests with a handler in the calling goroutine:
// a synctest bubble's clock cannot advance while a goroutine waits on a real
// socket, so inside a bubble the fake is reached without a network.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// logBuffer collects slog text lines; a test may wait for each on lines.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string // if not nil, gets every line
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf.Write(p)
	lines := b.lines
	b.mu.Unlock()
	if lines != nil {
		lines <- string(p)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// assertNoKey fails when text holds the key in any form seen on the wire.
func assertNoKey(t *testing.T, what, text string) {
	t.Helper()
	for _, form := range []string{testKey, "test%2Bkey%2F0123456789abcdef%3D", "0123456789abcdef"} {
		if strings.Contains(text, form) {
			t.Errorf("%s holds the API key (%q):\n%s", what, form, text)
		}
	}
}
