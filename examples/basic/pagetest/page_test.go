package pagetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/komachi-go/komachi/internal/plugintest"
	"github.com/komachi-go/komachi/internal/testutil"
)

// screenshotPath is the README's screenshot, relative to this directory.
const screenshotPath = "../../../docs/screenshot.png"

// screenshotWindows is how many windows the README's screenshot shows.
const screenshotWindows = 15

// graphDefs is the body of GET <mount>/stats/graphs?prefix=.
type graphDefs struct {
	Graphs map[string]struct {
		Label   string `json:"label"`
		Unit    string `json:"unit"`
		Metrics []struct {
			Name    string `json:"name"`
			Stacked bool   `json:"stacked"`
		} `json:"metrics"`
	} `json:"graphs"`
}

// history is the body of GET <mount>/stats/history.
type history struct {
	Times  []int64               `json:"times"`
	Series map[string][]*float64 `json:"series"`
}

// header is what the page's header shows, read from the DOM.
type header struct {
	MetricCount string  `json:"metricCount"`
	Budget      string  `json:"budget"`
	DataBudget  string  `json:"dataBudget"`
	Window      string  `json:"window"`
	LastWindow  string  `json:"lastWindow"`
	Windows     string  `json:"windows"`
	Charts      string  `json:"charts"`
	Heartbeat   *string `json:"heartbeat"`
	Vitals      []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"vitals"`
	EmptyShown bool   `json:"emptyShown"`
	EmptyText  string `json:"emptyText"`
}

// readHeader is the expression that reads a header from the page.
const readHeader = `(() => {
	const text = (sel) => { const e = document.querySelector(sel); return e ? e.textContent.trim() : null; };
	const hb = document.getElementById("heartbeat");
	const empty = document.getElementById("empty");
	return {
		metricCount: text("#metric-count"), budget: text("#budget"),
		dataBudget: document.body.dataset.budget || "",
		window: text("#window"), lastWindow: text("#last-window"),
		windows: document.body.dataset.windows || "", charts: document.body.dataset.charts || "",
		heartbeat: hb ? hb.dataset.status : null,
		vitals: [...document.querySelectorAll("#heartbeat li.vital")].map(li => ({name: li.dataset.name, status: li.dataset.status})),
		emptyShown: !!empty && !empty.hidden && getComputedStyle(empty).display !== "none",
		emptyText: empty ? empty.textContent.trim() : "",
	};
})()`

// chart is one section.chart, read from the DOM.
type chart struct {
	Graph   string   `json:"graph"`
	Heading string   `json:"heading"`
	SVG     bool     `json:"svg"`
	Ticks   []string `json:"ticks"`
	Legend  int      `json:"legend"`
	Lines   []struct {
		Series string `json:"series"`
		Points string `json:"points"`
		D      bool   `json:"d"`
	} `json:"lines"`
}

// readCharts is the expression that reads every chart from the page.
const readCharts = `[...document.querySelectorAll("section.chart")].map(s => {
	const h = s.querySelector("h1, h2, h3, h4, h5, h6");
	return {
		graph: s.dataset.graph || "",
		heading: h ? h.textContent.trim() : "",
		svg: !!s.querySelector("svg"),
		ticks: [...s.querySelectorAll("text.tick")].map(t => t.textContent.trim()),
		legend: s.querySelectorAll("ul.legend > li").length,
		lines: [...s.querySelectorAll("path.line")].map(p => ({
			series: p.dataset.series || "", points: p.dataset.points || "",
			d: (p.getAttribute("d") || "").length > 0,
		})),
	};
})`

// unitTick is what the y-axis tick labels of a graph of each Mackerel unit
// must end with, as Mackerel shows them; a bare "0" may stand alone.
var unitTick = map[string]*regexp.Regexp{
	"milliseconds": regexp.MustCompile(`\d\s*(ms|s|µs|ns|min|h|d)$`),
	"seconds":      regexp.MustCompile(`\d\s*(ms|s|µs|ns|min|h|d)$`),
	"bytes":        regexp.MustCompile(`\d\s*(B|KiB|MiB|GiB|TiB|PiB)$`),
	"bytes/sec":    regexp.MustCompile(`\d\s*(B|KiB|MiB|GiB|TiB|PiB)/s$`),
	"bits/sec":     regexp.MustCompile(`\d\s*(b|Kib|Mib|Gib|Tib|bps|Kbps|Mbps|Gbps)(/s)?$`),
	"percentage":   regexp.MustCompile(`\d\s*%$`),
}

// plainTick is a tick of an integer or float graph: a number, perhaps with
// an SI suffix, and no unit.
var plainTick = regexp.MustCompile(`^-?[\d.,]+(e[-+]?\d+)?\s*[kKMGTPµmn]?$`)

// TestPageInChromium runs examples/basic with a one-second window and mixed
// traffic, opens /ops/ in headless Chromium, and checks the page against
// the issue 11 contract: one chart per graph definition, a line of at
// least two points in each, units on the axes, the header's metric count,
// the heartbeat, a hover readout, no console error, no request off the
// loopback host, the CSP. It writes a screenshot, and with
// KOMACHI_UPDATE_SCREENSHOT=1 updates docs/screenshot.png.
func TestPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example and a browser")
	}
	chromiumPath(t) // skip before building anything
	began := time.Now()
	ex := testutil.StartExample(t, "..", []string{"-drain", "0s"}, "KOMACHI_STATS_WINDOW=1s")
	t.Logf("example built and ready in %v", time.Since(began).Round(time.Millisecond))

	stopTraffic := driveTraffic(t, ex)
	defer stopTraffic()

	b := openBrowser(t)
	page := ex.Base + "/ops/"
	navStart := time.Now()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(page))
	cancel()
	if err != nil {
		t.Fatalf("navigating to %s: %v", page, err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("GET %s = %d in the browser", page, resp.Status)
	}
	checkHeaders(t, "the browser's GET /ops/", func(name string) string {
		for k, v := range resp.Headers {
			if strings.EqualFold(k, name) {
				s, _ := v.(string)
				return s
			}
		}
		return ""
	})
	if ct := resp.MimeType; ct != "text/html" {
		t.Errorf("GET /ops/ in the browser: MIME type %q, want text/html", ct)
	}
	windows := b.waitDrawn(t, 2)
	t.Logf("dataset.windows = %d, every chart drawn, %v after navigation", windows, time.Since(navStart).Round(time.Millisecond))
	update := os.Getenv("KOMACHI_UPDATE_SCREENSHOT") == "1"
	if update {
		// The README's picture: enough windows for the lines to have a
		// shape.
		b.waitDrawn(t, screenshotWindows)
	}
	stopTraffic()

	// What the page draws, against what the server defines.
	var defs graphDefs
	mustGetJSON(t, ex.Get, "/ops/stats/graphs?prefix=", &defs)
	var charts []chart
	b.eval(t, readCharts, &charts)
	var hist history
	mustGetJSON(t, ex.Get, "/ops/stats/history", &hist)
	checkCharts(t, defs, charts, &hist)

	checkHeader(t, b, ex)
	checkReadout(t, b)
	checkAssets(t, ex, b)
	b.checkClean(t)

	light := screenshot(t, b, "light")
	if update {
		if err := os.WriteFile(screenshotPath, light, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", screenshotPath)
	}
	checkDark(t, b)
}

// screenshot takes a PNG of the whole page (JPEG would not be lossless
// for the README's thin lines) into the test's temporary directory.
func screenshot(t *testing.T, b *browser, name string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.TempDir(), name+".png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot (%s): %d bytes, %s", name, len(shot), path)
	return shot
}

// checkDark switches the page to prefers-color-scheme: dark: the colours
// must change, and nothing may go wrong in the console.
func checkDark(t *testing.T, b *browser) {
	t.Helper()
	type colours struct {
		Background string `json:"background"`
		Text       string `json:"text"`
		Chart      string `json:"chart"`
	}
	const read = `(() => {
		const b = getComputedStyle(document.body), c = document.querySelector("section.chart");
		return {background: b.backgroundColor, text: b.color, chart: c ? getComputedStyle(c).backgroundColor : ""};
	})()`
	var before, after colours
	b.eval(t, read, &before)
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatalf("emulating the dark colour scheme: %v", err)
	}
	b.eval(t, read, &after)
	if before.Background == after.Background || before.Text == after.Text {
		t.Errorf("prefers-color-scheme: dark changes nothing: light %+v, dark %+v", before, after)
	}
	t.Logf("colours: light %+v, dark %+v", before, after)
	screenshot(t, b, "dark")
	b.checkClean(t)
}

// driveTraffic sends mixed requests to the example from a goroutine, a
// round every 50 ms, 600 rounds at most, until the returned func is called
// (which is safe to call twice, and waits for the goroutine). The mix
// changes from one second to the next, so that the lines have a shape.
func driveTraffic(t *testing.T, ex *testutil.Example) func() {
	type request struct {
		method, path string
		code         int
	}
	var (
		en       = request{http.MethodGet, "/hello?name=x", http.StatusOK}
		ja       = request{http.MethodGet, "/hello?lang=ja", http.StatusOK}
		notFound = request{http.MethodGet, "/nope/1", http.StatusNotFound}
		post     = request{http.MethodPost, "/hello", http.StatusMethodNotAllowed}
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for n := range 600 {
			round := []request{en, notFound, post}
			for range 1 + n/20%3 { // one to three a round, by the second
				round = append(round, ja)
			}
			for _, r := range round {
				if code, body := ex.Do(r.method, r.path); code != r.code {
					t.Errorf("%s %s = %d %s, want %d", r.method, r.path, code, body, r.code)
					return
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(stop) })
		<-done
	}
}

// checkHeaders checks the headers every answer of the page carries.
func checkHeaders(t *testing.T, what string, get func(string) string) {
	t.Helper()
	for name, want := range pageHeaders {
		if got := get(name); got != want {
			t.Errorf("%s: %s = %q, want %q", what, name, got, want)
		}
	}
}

// checkCharts checks the charts against the graph definitions and the
// history they are drawn from.
func checkCharts(t *testing.T, defs graphDefs, charts []chart, hist *history) {
	t.Helper()
	if len(defs.Graphs) == 0 {
		t.Fatal("/ops/stats/graphs?prefix= defines no graph")
	}
	if len(charts) != len(defs.Graphs) {
		t.Errorf("%d section.chart for %d graph definitions", len(charts), len(defs.Graphs))
	}
	seen := map[string]bool{}
	for _, c := range charts {
		def, ok := defs.Graphs[c.Graph]
		switch {
		case !ok:
			t.Errorf("chart %q: no such graph definition", c.Graph)
			continue
		case seen[c.Graph]:
			t.Errorf("chart %q: drawn twice", c.Graph)
		}
		seen[c.Graph] = true
		if !strings.Contains(c.Heading, def.Label) {
			t.Errorf("chart %q: heading %q lacks the label %q", c.Graph, c.Heading, def.Label)
		}
		if !c.SVG {
			t.Errorf("chart %q: no svg", c.Graph)
		}
		drawn := 0
		for _, l := range c.Lines {
			rest, ok := strings.CutPrefix(l.Series, c.Graph+".")
			if !ok || rest == "" || strings.Contains(rest, ".") {
				t.Errorf("chart %q: line of series %q, which is no series of the graph", c.Graph, l.Series)
			} else if _, ok := hist.Series[l.Series]; !ok {
				t.Errorf("chart %q: line of series %q, which /stats/history lacks", c.Graph, l.Series)
			}
			n, err := strconv.Atoi(l.Points)
			if err != nil {
				t.Errorf("chart %q: line %q: data-points %q", c.Graph, l.Series, l.Points)
			}
			if n >= 2 && l.D {
				drawn++
			}
		}
		if drawn == 0 {
			t.Errorf("chart %q: no path.line with at least two points drawn: %+v", c.Graph, c.Lines)
		}
		if c.Legend != len(c.Lines) {
			t.Errorf("chart %q: %d legend entries for %d lines", c.Graph, c.Legend, len(c.Lines))
		}
		checkTicks(t, c.Graph, def.Unit, c.Ticks)
	}
	for g := range defs.Graphs {
		if !seen[g] {
			t.Errorf("graph %q has no chart", g)
		}
	}
}

// checkTicks checks that a chart's y-axis labels carry its unit as
// Mackerel shows it.
func checkTicks(t *testing.T, graph, unit string, ticks []string) {
	t.Helper()
	if len(ticks) == 0 {
		t.Errorf("chart %q (%s): no text.tick on its axis", graph, unit)
		return
	}
	want, hasUnit := unitTick[unit]
	carried := false
	for _, tick := range ticks {
		switch {
		case tick == "0":
		case hasUnit && want.MatchString(tick):
			carried = true
		case hasUnit:
			t.Errorf("chart %q (%s): tick %q lacks the unit (all ticks: %q)", graph, unit, tick, ticks)
		case !plainTick.MatchString(tick):
			t.Errorf("chart %q (%s): tick %q is not a plain number", graph, unit, tick)
		}
	}
	if hasUnit && !carried {
		t.Errorf("chart %q (%s): no tick shows the unit: %q", graph, unit, ticks)
	}
}

// checkHeader checks the header against /ops/stats and the verbose
// heartbeat. The page reads /stats once a window and this test reads it
// too: a read is compared with what the page shows only when the page has
// not moved on meanwhile, and when the two saw different windows the test
// waits for the next one.
func checkHeader(t *testing.T, b *browser, ex *testutil.Example) {
	t.Helper()
	var h header
	var leaves int
	matched := false
	for attempt := 0; attempt < 6 && !matched; attempt++ {
		var before header
		b.eval(t, readHeader, &before)
		code, body := ex.Get("/ops/stats")
		if code != http.StatusOK {
			t.Fatalf("GET /ops/stats = %d %s", code, body)
		}
		flat, err := plugintest.Flatten("", body)
		if err != nil {
			t.Fatalf("GET /ops/stats: %v", err)
		}
		leaves = len(flat)
		b.eval(t, readHeader, &h)
		if before.LastWindow == h.LastWindow && before.MetricCount == h.MetricCount && h.MetricCount == strconv.Itoa(leaves) {
			matched = true
			if attempt > 0 {
				t.Logf("#metric-count matched /ops/stats on try %d", attempt+1)
			}
			break
		}
		// Wait for the page's next window, then read both again.
		deadline := time.Now().Add(5 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		for time.Now().Before(deadline) {
			var next header
			b.eval(t, readHeader, &next)
			if next.LastWindow != h.LastWindow || next.Windows != h.Windows {
				break
			}
			<-tick.C
		}
		tick.Stop()
	}
	if !matched {
		t.Errorf("#metric-count = %q, but /ops/stats has %d numeric leaves (six tries)", h.MetricCount, leaves)
	}
	t.Logf("header: %d metrics, budget %s, window %q, last window %q, heartbeat %v %+v",
		leaves, h.Budget, h.Window, h.LastWindow, deref(h.Heartbeat), h.Vitals)

	if h.Budget == "" || h.Budget != h.DataBudget {
		t.Errorf("#budget = %q, body's data-budget = %q", h.Budget, h.DataBudget)
	}
	if !regexp.MustCompile(`^1\s*s$`).MatchString(h.Window) {
		t.Errorf("#window = %q, want 1 s", h.Window)
	}
	if h.LastWindow == "" {
		t.Error("#last-window is empty")
	}
	if h.Charts == "" {
		t.Error("body's data-charts is not set")
	}
	if h.EmptyShown {
		t.Errorf("#empty is shown with charts drawn: %q", h.EmptyText)
	}

	var hb struct {
		Status string                      `json:"status"`
		Checks map[string][]map[string]any `json:"checks"`
	}
	code, body := ex.Get("/ops/heartbeat?verbose")
	if err := json.Unmarshal(body, &hb); code != http.StatusOK || err != nil {
		t.Fatalf("GET /ops/heartbeat?verbose = %d %v %s", code, err, body)
	}
	if h.Heartbeat == nil {
		t.Error("no #heartbeat")
	} else if *h.Heartbeat != hb.Status {
		t.Errorf("#heartbeat data-status = %q, /ops/heartbeat?verbose says %q", *h.Heartbeat, hb.Status)
	}
	var names []string
	for _, v := range h.Vitals {
		names = append(names, v.Name)
		checks, ok := hb.Checks[v.Name]
		if !ok {
			t.Errorf("li.vital %q: no such check in /ops/heartbeat?verbose", v.Name)
			continue
		}
		if len(checks) > 0 && checks[0]["status"] != v.Status {
			t.Errorf("li.vital %q: data-status %q, the heartbeat says %q", v.Name, v.Status, checks[0]["status"])
		}
	}
	for name := range hb.Checks {
		if !slices.Contains(names, name) {
			t.Errorf("vital %q of /ops/heartbeat?verbose has no li.vital", name)
		}
	}
}

// checkReadout moves the pointer over the left of the first chart: its
// readout, which shows the latest window otherwise, must show an earlier
// window's time and values, with the cursor drawn. It moves the pointer
// away again.
func checkReadout(t *testing.T, b *browser) {
	t.Helper()
	var box struct{ X, Y float64 }
	b.eval(t, `(() => {
		const r = document.querySelector("section.chart svg").getBoundingClientRect();
		return {X: r.left + r.width * 0.3, Y: r.top + r.height / 2};
	})()`, &box)
	move := func(x, y float64) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.MouseEvent(chromedp.MouseMoved, x, y)); err != nil {
			t.Fatalf("moving the pointer: %v", err)
		}
	}
	move(box.X, box.Y)
	defer move(0, 0)
	type readout struct {
		Text   string `json:"text"`
		Time   string `json:"time"`
		Last   string `json:"last"`
		Cursor string `json:"cursor"`
	}
	var r readout
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		b.eval(t, `(() => {
			const s = document.querySelector("section.chart");
			const r = s.querySelector(".readout");
			const shown = r && !r.hidden && getComputedStyle(r).display !== "none";
			const c = s.querySelector(".cursor");
			return {
				text: shown ? r.textContent.trim() : "",
				time: shown && r.querySelector("time") ? r.querySelector("time").textContent.trim() : "",
				last: document.getElementById("last-window").textContent.trim(),
				cursor: c ? (c.getAttribute("visibility") || getComputedStyle(c).visibility) : "",
			};
		})()`, &r)
		if regexp.MustCompile(`\d`).MatchString(r.Text) && r.Time != "" && r.Time != r.Last && r.Cursor == "visible" {
			t.Logf("hover readout over an earlier window: %q (latest %s)", r.Text, r.Last)
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("hovering the left of the first chart: .readout %q at time %q (latest window %q), cursor %q: "+
				"want an earlier window's values and a visible cursor", r.Text, r.Time, r.Last, r.Cursor)
			return
		}
		<-tick.C
	}
}

// checkAssets checks that the page's script and style came from the
// mount, relative to it, with the page's headers, and that the page
// fetched its data relative to the mount too.
func checkAssets(t *testing.T, ex *testutil.Example, b *browser) {
	t.Helper()
	for _, asset := range []string{"page.js", "page.css"} {
		u := ex.Base + "/ops/" + asset
		resp := b.response(u)
		if resp == nil {
			t.Errorf("the browser did not load %s", u)
			continue
		}
		checkHeaders(t, "GET /ops/"+asset, getHeader(t, u).Get)
	}
	paths := map[string]int{}
	for _, u := range b.requested() {
		paths[strings.TrimPrefix(u, ex.Base)]++
	}
	t.Logf("the page's requests to %s: %v", ex.Base, paths)
	for _, want := range []string{"/ops/stats/graphs?prefix=", "/ops/stats/history"} {
		found := slices.ContainsFunc(b.requested(), func(u string) bool { return strings.HasPrefix(u, ex.Base+want) })
		if !found {
			t.Errorf("the page never fetched %s; it fetched %q", want, b.requested())
		}
	}
}

// getHeader GETs u on a connection of its own, closed after it, and
// returns the response's header.
func getHeader(t *testing.T, u string) http.Header {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s = %d", u, resp.StatusCode)
	}
	return resp.Header
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return fmt.Sprint(*s)
}
