package pagetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/komachi-go/komachi/exporter"
	"github.com/komachi-go/komachi/internal/testutil"
	"github.com/komachi-go/komachi/otelbridge"
)

// graphs is how many graphs the load test serves: half byte gauges, half
// latency histograms.
const graphs = 100

// markRendered runs in every new document before the page's own script,
// and notes performance.now() when the page first says it has drawn two
// windows: the time from navigation start to a complete render, for a page
// that does not report it itself.
const markRendered = `new MutationObserver(() => {
	if (window.__renderedAt === undefined && Number(document.body.dataset.windows) >= 2) {
		window.__renderedAt = performance.now();
	}
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-windows"]});`

// TestPageLoadWith100Graphs serves a hundred graphs from an in-process
// server (otelbridge.NewStats on the app's own MeterProvider, one-second
// windows), waits for two windows of history, and opens the page: every
// graph gets its chart, and the time from navigation to the complete render
// is logged. It asserts no time: machines are noisy.
func TestPageLoadWith100Graphs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	chromiumPath(t)
	base := serve100Graphs(t)
	get := func(path string) (int, []byte) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, []byte(err.Error())
		}
		return resp.StatusCode, body
	}
	// The page draws the history it finds on load: wait until every series
	// has two windows in it (the histograms start recording after the
	// first), so that the first render is the whole page.
	testutil.Poll(t, 15*time.Second, "two windows of every series in /ops/stats/history", func() bool {
		var h history
		code, body := get("/ops/stats/history")
		if code != http.StatusOK || json.Unmarshal(body, &h) != nil || len(h.Series) < 2*graphs {
			return false
		}
		for _, values := range h.Series {
			if len(values) < 2 || values[len(values)-1] == nil || values[len(values)-2] == nil {
				return false
			}
		}
		return true
	})

	b := openBrowser(t)
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: markRendered}); err != nil {
		t.Fatalf("adding the render mark: %v", err)
	}
	// The first load is the browser's first page (a cold start); the
	// second, a reload, is what a person sees on coming back.
	for _, load := range []string{"first load", "reload"} {
		timing := loadPage(t, b, base+"/ops/")
		t.Logf("%d graphs, %s: rendered %s after navigation start, %s after stats/history arrived "+
			"(the page's own data-render-ms: %q); document received %.0f ms, DOMContentLoaded %.0f ms; "+
			"%d elements; %v until the test saw it",
			graphs, load, ms(timing.RenderedAt), since(timing.RenderedAt, timing.History), timing.RenderMs,
			timing.Response, timing.DOMReady, timing.Nodes, timing.wall.Round(time.Millisecond))
		if timing.Charts != strconv.Itoa(graphs) {
			t.Errorf("%s: body's data-charts = %q, want %d", load, timing.Charts, graphs)
		}
	}

	var defs graphDefs
	mustGetJSON(t, get, "/ops/stats/graphs?prefix=", &defs)
	if len(defs.Graphs) != graphs {
		t.Fatalf("/ops/stats/graphs defines %d graphs, want %d: the test's rules are off", len(defs.Graphs), graphs)
	}
	var charts []chart
	b.eval(t, readCharts, &charts)
	var hist history
	mustGetJSON(t, get, "/ops/stats/history", &hist)
	checkCharts(t, defs, charts, &hist)
	b.checkClean(t)
}

// loadTiming is what the browser measured of one load of the page, in
// milliseconds from navigation start.
type loadTiming struct {
	RenderMs   string   `json:"renderMs"`   // the page's own data-render-ms, if it sets one
	RenderedAt *float64 `json:"renderedAt"` // markRendered's mark
	History    *float64 `json:"history"`    // stats/history's response end
	Response   float64  `json:"responseEnd"`
	DOMReady   float64  `json:"domContentLoaded"`
	Charts     string   `json:"charts"`
	Nodes      int      `json:"nodes"`
	wall       time.Duration
}

// loadPage navigates to u, waits for two windows drawn in every chart, and
// reads the load's timing.
func loadPage(t *testing.T, b *browser, u string) loadTiming {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	err := chromedp.Do(ctx, chromedp.Navigate(u))
	cancel()
	if err != nil {
		t.Fatalf("navigating to %s: %v", u, err)
	}
	b.waitDrawn(t, 2)
	var timing loadTiming
	timing.wall = time.Since(start)
	b.eval(t, `(() => {
		const nav = performance.getEntriesByType("navigation")[0] || {};
		const hist = performance.getEntriesByType("resource").find(e => /\/stats\/history$/.test(e.name));
		return {
			renderMs: document.body.dataset.renderMs || "",
			renderedAt: window.__renderedAt === undefined ? null : window.__renderedAt,
			history: hist ? hist.responseEnd : null,
			responseEnd: nav.responseEnd || 0, domContentLoaded: nav.domContentLoadedEventEnd || 0,
			charts: document.body.dataset.charts || "",
			nodes: document.getElementsByTagName("*").length,
		};
	})()`, &timing)
	return timing
}

// ms shows a time in milliseconds, or that it was not measured.
func ms(v *float64) string {
	if v == nil {
		return "(not measured)"
	}
	return fmt.Sprintf("%.0f ms", *v)
}

// since shows the milliseconds from b to a.
func since(a, b *float64) string {
	if a == nil || b == nil {
		return "(not measured)"
	}
	return fmt.Sprintf("%.0f ms", *a-*b)
}

// serve100Graphs serves /ops/ from a MeterProvider of the app's own with 50
// byte gauges of two series each and 50 latency histograms (their p50 and
// p99), and nothing else, on a loopback httptest server. It returns the
// server's URL; everything stops at the end of the test.
func serve100Graphs(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	// The budget's warning is expected here: the logger is silent.
	stats, mp, url := newServedStats(t,
		otelbridge.WithMackerelPrefix("pagetest"),
		otelbridge.WithExporterOptions(exporter.WithRules(
			exporter.Rule{Match: "load.latency.*", Stats: []string{"p50", "p99"}},
			exporter.Rule{Match: "load.*"},
			exporter.Rule{Match: "*", Off: true},
		)),
	)
	meter := mp.Meter("github.com/komachi-go/komachi/examples/basic/pagetest")
	for i := range graphs / 2 {
		_, err := meter.Int64ObservableGauge(fmt.Sprintf("load.memory.m%02d", i),
			metric.WithUnit("By"), metric.WithDescription(fmt.Sprintf("Memory of pool %d", i)),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(int64(i+1)<<20, metric.WithAttributes(attribute.String("kind", "heap")))
				o.Observe(int64(i+1)<<18, metric.WithAttributes(attribute.String("kind", "stack")))
				return nil
			}))
		if err != nil {
			t.Fatal(err)
		}
	}
	hists := make([]metric.Float64Histogram, graphs/2)
	for i := range hists {
		var err error
		if hists[i], err = meter.Float64Histogram(fmt.Sprintf("load.latency.l%02d", i),
			metric.WithUnit("s"), metric.WithDescription(fmt.Sprintf("Latency of call %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := stats.Start(ctx, mp); err != nil {
		t.Fatal(err)
	}

	// The histograms record in every window: a round every 20 ms, for as
	// long as the test runs and 1500 rounds at most.
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := range 1500 {
			for i, h := range hists {
				h.Record(ctx, float64(i+1)*0.001*float64(1+n%5))
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	t.Cleanup(func() {
		close(stop)
		<-done
	})
	return url
}

// mustGetJSON GETs path with get and decodes its JSON body into out.
func mustGetJSON(t *testing.T, get func(string) (int, []byte), path string, out any) {
	t.Helper()
	code, body := get(path)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}
