package pagetest_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/komachi-go/komachi/exporter"
	"github.com/komachi-go/komachi/otelbridge"
)

// TestPageEmptyState opens the page where it has nothing to draw: #empty
// must be shown and say why, with no chart and no console error.
func TestPageEmptyState(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser")
	}
	chromiumPath(t)
	b := openBrowser(t)
	for _, tc := range []struct {
		name    string
		started bool // Stats.Start called: /stats has its first document
		rules   []exporter.Rule
		want    string
		// expected is the browser's own log of the 503s that the contract
		// gives before the first window, which are not the page's errors.
		expected []string
	}{
		// Before Start, /stats and its history answer 503: no window yet.
		{name: "before the first window", want: "no window yet",
			expected: []string{"responded with a status of 503 (Service Unavailable)"}},
		// Every instrument turned off: the document is empty.
		{name: "nothing selected", started: true, rules: []exporter.Rule{{Match: "*", Off: true}},
			want: "/stats serves nothing: see KOMACHI_STATS_SELECT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := serveStats(t, tc.started, otelbridge.WithExporterOptions(exporter.WithRules(tc.rules...)))
			ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
			err := chromedp.Do(ctx, chromedp.Navigate(base+"/ops/"))
			cancel()
			if err != nil {
				t.Fatalf("navigating to the page: %v", err)
			}
			b.waitFor(t, "dataset.charts to be set", `document.body.dataset.charts !== undefined`)
			var h header
			b.eval(t, readHeader, &h)
			if !h.EmptyShown || !strings.Contains(h.EmptyText, tc.want) {
				t.Errorf("#empty shown %v, says %q; want it shown, saying %q", h.EmptyShown, h.EmptyText, tc.want)
			}
			if h.Charts != "0" {
				t.Errorf("body's data-charts = %q, want 0", h.Charts)
			}
			var charts []chart
			b.eval(t, readCharts, &charts)
			if len(charts) != 0 {
				t.Errorf("%d charts drawn with nothing to draw", len(charts))
			}
			t.Logf("#empty: %q; data-windows %q", h.EmptyText, h.Windows)
			b.checkClean(t, tc.expected...)
		})
	}
}

// serveStats serves /ops/ from otelbridge.NewStats with opts on a loopback
// httptest server, started on a MeterProvider of its own when started is
// set. It returns the server's URL; everything stops at the end of the test.
func serveStats(t *testing.T, started bool, opts ...otelbridge.Option) string {
	t.Helper()
	stats, mp, url := newServedStats(t, opts...)
	if started {
		if err := stats.Start(context.Background(), mp); err != nil {
			t.Fatal(err)
		}
	}
	return url
}

// newServedStats builds otelbridge.NewStats (a 1 s window, no host metrics,
// a silent logger, then opts) on a MeterProvider of its own, not started,
// and serves its /ops/ on a loopback httptest server, whose URL it returns.
// Everything stops at the end of the test.
func newServedStats(t *testing.T, opts ...otelbridge.Option) (*otelbridge.Stats, *sdkmetric.MeterProvider, string) {
	t.Helper()
	opts = append([]otelbridge.Option{
		otelbridge.WithWindow(time.Second),
		otelbridge.WithoutHostMetrics(),
		otelbridge.WithLogger(slog.New(slog.DiscardHandler)),
	}, opts...)
	stats, err := otelbridge.NewStats(opts...)
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(stats.Reader()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := mp.Shutdown(ctx); err != nil {
			t.Errorf("MeterProvider.Shutdown: %v", err)
		}
		if err := stats.Shutdown(ctx); err != nil {
			t.Errorf("Stats.Shutdown: %v", err)
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", stats.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return stats, mp, srv.URL
}
