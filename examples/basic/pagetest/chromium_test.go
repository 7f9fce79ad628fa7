package pagetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// csp is the Content-Security-Policy of the issue 11 contract: every answer
// of the page carries it.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// pageHeaders are the headers every answer of the page carries.
var pageHeaders = map[string]string{
	"Content-Security-Policy": csp,
	"X-Content-Type-Options":  "nosniff",
	"Cache-Control":           "no-cache",
	"Referrer-Policy":         "no-referrer",
}

// chromiumPath finds Debian's chromium (or another build chromedp knows).
// Without one the test skips, unless CI is set: .ci/run installs it, so
// there a missing browser is a broken run, not a reason to pass.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "headless_shell", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH with CI set: .ci/run should have installed Debian's chromium package")
	}
	t.Skip("no chromium on PATH: apt-get install chromium to run the browser tests")
	return ""
}

// browser is one headless Chromium tab, with what the page did in it so
// far: every request it sent, the document responses, and every console
// error, uncaught exception and browser log error.
type browser struct {
	ctx context.Context

	mu        sync.Mutex
	requests  []string                     // URLs, in order
	checked   int                          // requests checked by checkClean
	responses map[string]*network.Response // by URL, documents and scripts alike
	problems  []string                     // console errors, exceptions, log errors
	warnings  []string                     // console and log warnings, reported only
}

// openBrowser starts Chromium headless at 1280×1600 (as root, without its
// sandbox) with one tab listening to the network and the console. The
// browser stops at the end of the test.
func openBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1600),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })

	b := &browser{ctx: ctx, responses: map[string]*network.Response{}}
	start := time.Now()
	// The first run starts the browser, with no timeout: a timeout on it
	// would stop the browser when it ends.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	version, err := chromedp.CallBrowser(ctx, cdpbrowser.GetVersion, cdp.Empty{})
	if err != nil {
		t.Fatalf("reading the browser's version: %v", err)
	}
	t.Logf("%s started in %v", version.Product, time.Since(start).Round(time.Millisecond))

	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("network.Enable: %v", err)
	}
	return b
}

// record keeps what the tab reports. It runs on the goroutine that reads
// the browser's messages, so it only appends under the lock.
func (b *browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	case *network.EventResponseReceived:
		b.responses[ev.Response.URL] = ev.Response
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			if len(a.Value) > 0 {
				args = append(args, string(a.Value))
			} else {
				args = append(args, a.Description)
			}
		}
		switch ev.Type {
		case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeAssert:
			b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		case runtime.ConsoleAPICalledTypeWarning:
			b.warnings = append(b.warnings, "console.warn: "+strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		b.problems = append(b.problems, fmt.Sprintf("exception at %s:%d:%d: %s", d.URL, d.LineNumber+1, d.ColumnNumber+1, text))
	case *log.EventEntryAdded:
		e := ev.Entry
		line := fmt.Sprintf("log %s (%s): %s %s", e.Level, e.Source, e.Text, e.URL)
		switch e.Level {
		case log.EntryLevelError:
			b.problems = append(b.problems, line)
		case log.EntryLevelWarning:
			b.warnings = append(b.warnings, line)
		}
	}
}

// checkClean fails the test on any console error or exception, and on any
// request that left the loopback host, seen since the last check. A
// problem that contains one of expected is only logged.
func (b *browser) checkClean(t *testing.T, expected ...string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		if slices.ContainsFunc(expected, func(e string) bool { return strings.Contains(p, e) }) {
			t.Logf("the page reported, as expected: %s", p)
			continue
		}
		t.Errorf("the page reported: %s", p)
	}
	for _, w := range b.warnings {
		t.Logf("the page warned: %s", w)
	}
	b.problems, b.warnings = nil, nil
	if len(b.requests) == 0 {
		t.Error("no request seen: is the network listener deaf?")
	}
	for _, raw := range b.requests[b.checked:] {
		if !onLoopback(raw) {
			t.Errorf("the page sent a request off the loopback host: %s", raw)
		}
	}
	b.checked = len(b.requests)
}

// onLoopback tells whether a request URL stays on this machine: a loopback
// host, or a data: URL, which the CSP allows for images and which is never
// fetched.
func onLoopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if u.Scheme == "data" {
		return true
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	switch u.Hostname() {
	case "127.0.0.1", "::1", "localhost":
		return true
	}
	return false
}

// requested returns the URLs requested so far.
func (b *browser) requested() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}

// response returns the response the tab received for u, if any.
func (b *browser) response(u string) *network.Response {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.responses[u]
}

// eval evaluates a JavaScript expression in the page and decodes its
// result into out, through JSON so that any shape comes back whole.
func (b *browser) eval(t *testing.T, expr string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte]("JSON.stringify("+expr+")"))
	if err != nil {
		t.Fatalf("evaluating %s: %v", firstLine(expr), err)
	}
	var s string // JSON.stringify answers a string, itself JSON-encoded
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("evaluating %s: %v (%s)", firstLine(expr), err, raw)
	}
	if err := json.Unmarshal([]byte(s), out); err != nil {
		t.Fatalf("evaluating %s: %v (%s)", firstLine(expr), err, s)
	}
}

// waitDrawn waits until the page says it has drawn at least n windows
// (document.body.dataset.windows) and every chart has a line of at least
// two points, asking every 100 ms for at most 30 s. A series born after
// the first window (the app's, once traffic starts) has a point fewer
// than there are windows. It returns the windows drawn; on a timeout the
// test fails and goes on, so that the checks of the charts name the culprit.
func (b *browser) waitDrawn(t *testing.T, n int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var got struct {
			Windows string `json:"windows"`
			Undrawn int    `json:"undrawn"`
			Charts  int    `json:"charts"`
			Empty   string `json:"empty"`
		}
		b.eval(t, `(() => {
			const charts = [...document.querySelectorAll("section.chart")];
			return {
				windows: document.body ? (document.body.dataset.windows || "") : "",
				charts: charts.length,
				undrawn: charts.filter(s => ![...s.querySelectorAll("path.line")].some(p => Number(p.dataset.points) >= 2)).length,
				empty: (document.getElementById("empty") || {}).textContent || "",
			};
		})()`, &got)
		w, err := strconv.Atoi(got.Windows)
		if err == nil && w >= n && got.Charts > 0 && got.Undrawn == 0 {
			return w
		}
		if time.Now().After(deadline) {
			t.Errorf("timed out after 30 s waiting for dataset.windows >= %d and a line of two points in every chart: "+
				"dataset.windows is %q, %d of %d charts lack such a line; #empty says %q",
				n, got.Windows, got.Undrawn, got.Charts, strings.TrimSpace(got.Empty))
			return w
		}
		<-tick.C
	}
}

// waitFor waits until the JavaScript expression cond is true in the page,
// asking every 100 ms for at most 30 s, and fails the test naming what.
func (b *browser) waitFor(t *testing.T, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var ok bool
		b.eval(t, "!!("+cond+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30 s waiting for %s", what)
		}
		<-tick.C
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
