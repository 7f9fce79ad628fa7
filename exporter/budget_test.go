package exporter

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// gaugeOf is one gauge of n series.
func gaugeOf(n int) *metricdata.ResourceMetrics {
	pts := make([]metricdata.DataPoint[int64], n)
	for i := range pts {
		pts[i] = ptI(int64(i), attrs("k", fmt.Sprint(i)))
	}
	return rmOf(scope("s", gaugeI("g", pts...)))
}

// capture is a logger writing into a buffer, without times.
func capture() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	return slog.New(h), &buf
}

// The budget warning: once, the first time the document makes more
// Mackerel metrics than the budget, through the configured logger, naming
// both numbers.
func TestBudgetWarnsOnce(t *testing.T) {
	logger, buf := capture()
	exp, _ := New(serveAll(), WithBudget(3), WithLogger(logger))
	ctx := context.Background()
	for _, n := range []int{2, 3} { // under and at the budget: quiet
		if err := exp.Export(ctx, gaugeOf(n)); err != nil {
			t.Fatal(err)
		}
	}
	if buf.Len() != 0 {
		t.Fatalf("a warning at or under the budget: %s", buf)
	}
	for _, n := range []int{5, 6, 2, 7} {
		if err := exp.Export(ctx, gaugeOf(n)); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines logged, want one warning:\n%s", len(lines), buf)
	}
	for _, want := range []string{"level=WARN", "metrics=5", "budget=3", "KOMACHI_STATS_SELECT"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("the warning %q does not say %q", lines[0], want)
		}
	}
}

func TestBudgetDefaultAndOff(t *testing.T) {
	ctx := context.Background()
	logger, buf := capture()
	exp, _ := New(serveAll(), WithLogger(logger))
	_ = exp.Export(ctx, gaugeOf(DefaultBudget))
	if buf.Len() != 0 {
		t.Errorf("a warning at the default budget: %s", buf)
	}
	_ = exp.Export(ctx, gaugeOf(DefaultBudget+1))
	if !strings.Contains(buf.String(), fmt.Sprintf("metrics=%d budget=%d", DefaultBudget+1, DefaultBudget)) {
		t.Errorf("no warning over the default budget: %q", buf)
	}

	logger, buf = capture()
	exp, _ = New(serveAll(), WithBudget(0), WithLogger(logger))
	_ = exp.Export(ctx, gaugeOf(1000))
	if buf.Len() != 0 {
		t.Errorf("WithBudget(0) warned: %s", buf)
	}
}

// Without WithLogger the warning goes to slog.Default, as it is when New
// runs.
func TestBudgetWarnsThroughTheDefaultLogger(t *testing.T) {
	logger, buf := capture()
	old := slog.Default()
	slog.SetDefault(logger)
	defer slog.SetDefault(old)
	exp, _ := New(serveAll(), WithBudget(1))
	_ = exp.Export(context.Background(), rmOf(scope("s", gaugeI("g", ptI(1, attrs("k", "a")), ptI(2, attribute.NewSet())))))
	if !strings.Contains(buf.String(), "metrics=2 budget=1") {
		t.Errorf("no warning through slog.Default: %q", buf)
	}
}
