package benchmarks_test

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/komachi-go/komachi/exporter"
	"github.com/komachi-go/komachi/internal/plugintest"
	"github.com/komachi-go/komachi/internal/testutil"
	"github.com/komachi-go/komachi/internal/testutil/otlptest"
)

var costTable = flag.String("cost-table", "", "write TestCostInMackerel's table, in Markdown, to this file")

// costPrefix is the plugin's -prefix: the example's service name, as in
// examples/kubernetes.
const costPrefix = "basic"

// What a Pod costs (../shared/docs/mackerel.md): mackerel-container-agent
// registers it as a micro host, which includes 30 metrics, and posts about
// 10 of its own.
const (
	microHostMetrics = 30
	agentMetrics     = 10
)

// microHosts is what a Pod posting custom metrics of its own bills.
func microHosts(custom int) int {
	return (custom + agentMetrics + microHostMetrics - 1) / microHostMetrics
}

// selectAll is the KOMACHI_STATS_SELECT that serves every instrument
// whole: it parses to exporter.AllRules.
const selectAll = "*"

// costRow is one way of watching examples/basic, as the table shows it.
type costRow struct {
	way       string
	metrics   int    // custom metrics per Pod
	graphs    int    // graphs Mackerel draws of them
	units     int    // of those, graphs with a unit other than float
	truncated string // values %f prints more than 1 % off
	note      string // how the row was obtained
}

// watched is a measured row and what the assertions read of it.
type watched struct {
	costRow
	names     []string // the metric names posted, without the agent's custom.
	truncated []string // the names whose values %f prints more than 1 % off
}

// TestCostInMackerel measures what watching examples/basic under mixed
// traffic costs a Pod in Mackerel, one row per way of watching it: komachi
// at its defaults, komachi with everything opt-in turned on, and the OTel
// Prometheus exporter on the same app, flattened into one metric per
// sample; mackerel-plugin-gostats and the seed library come from their
// sources (static tables below). It prints the table, writes it to
// -cost-table when given, and fails when komachi's defaults stop fitting a
// micro host or the comparison turns.
func TestCostInMackerel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs examples/basic and mackerel-plugin-json")
	}
	rules, err := exporter.ParseRules(selectAll)
	if err != nil || !reflect.DeepEqual(rules, exporter.AllRules()) {
		t.Fatalf("KOMACHI_STATS_SELECT=%s parses to %v, %v; want exporter.AllRules", selectAll, rules, err)
	}
	plugin := testutil.GoBuild(t, ".", "github.com/mackerelio/mackerel-plugin-json")
	pluginInfo, err := buildinfo.ReadFile(plugin)
	if err != nil {
		t.Fatal(err)
	}

	var defaults, all, prom watched
	t.Run("measure", func(t *testing.T) {
		t.Run("defaults", func(t *testing.T) {
			t.Parallel()
			ex := startBasic(t)
			defaults = watchKomachi(t, ex, plugin, "komachi at its defaults")
			defaults.note = "examples/basic as shipped, after two rounds of mixed traffic (200s in both languages, a 404, a 405; a 2 s window, which changes values, not names): the lines of the real mackerel-plugin-json " +
				pluginInfo.Main.Version + ", the graphs of /ops/stats/graphs"
		})
		t.Run("everything", func(t *testing.T) {
			t.Parallel()
			// A collector for the forwarding, which adds
			// komachi.otlp.failures to /stats and gives the Prometheus
			// exporter the same app's data. The interval is an hour: the
			// one export is the last collection, at shutdown, after all
			// the traffic, and every request the collector gets belongs
			// to it, however the reader splits it into batches.
			collector := otlptest.StartHTTP(t, otlptest.Options{})
			ex := startBasic(t, "KOMACHI_STATS_SELECT="+selectAll,
				"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+collector.Addr, "OTEL_METRIC_EXPORT_INTERVAL=3600000")
			all = watchKomachi(t, ex, plugin, "komachi, everything opt-in")
			all.note = "the same with KOMACHI_STATS_SELECT='" + selectAll + "' (exporter.AllRules) and OTLP forwarding on (komachi.otlp.*)"
			if !slices.Contains(all.names, costPrefix+".komachi.otlp.failures.failures") {
				t.Errorf("komachi.otlp.failures is not served with forwarding on: %v", all.names)
			}
			if err := ex.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := ex.Wait(30 * time.Second); err != nil {
				t.Fatalf("the example's exit: %v\n%s", err, ex.Stderr)
			}
			prom = watchPrometheus(t, collector.Requests())
		})
	})
	if t.Failed() {
		return
	}
	rows := []costRow{defaults.costRow, all.costRow, prom.costRow, gostatsRow(), seedRow()}

	if defaults.metrics > exporter.DefaultBudget || microHosts(defaults.metrics) != 1 {
		t.Errorf("komachi's defaults post %d metrics (%d micro hosts), want at most %d (1)",
			defaults.metrics, microHosts(defaults.metrics), exporter.DefaultBudget)
	}
	if len(defaults.truncated) > 0 {
		t.Errorf("komachi's defaults lose values to %%f: %v", defaults.truncated)
	}
	if all.metrics < defaults.metrics {
		t.Errorf("everything opt-in posts %d metrics, fewer than the defaults' %d", all.metrics, defaults.metrics)
	}
	if prom.metrics <= all.metrics {
		t.Errorf("the Prometheus exporter flattened posts %d metrics, no more than komachi with everything (%d)",
			prom.metrics, all.metrics)
	}
	for _, r := range rows {
		if r.metrics <= 0 || r.graphs <= 0 {
			t.Errorf("%s: %d metrics, %d graphs: every count must be positive", r.way, r.metrics, r.graphs)
		}
	}
	for _, w := range []watched{defaults, all} {
		if w.units <= 0 {
			t.Errorf("%s: no graph carries a unit", w.way)
		}
	}
	for _, w := range []watched{all, prom} {
		if len(w.truncated) > 0 {
			t.Logf("%s: truncated by %%f:\n\t%s", w.way, strings.Join(w.truncated, "\n\t"))
		}
	}

	table := costMarkdown(rows)
	t.Logf("the cost in Mackerel:\n%s", table)
	if *costTable != "" {
		if err := os.WriteFile(*costTable, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startBasic runs examples/basic with a 2 s window, its service name and
// the plugin's prefix, plus env.
func startBasic(t *testing.T, env ...string) *testutil.Example {
	t.Helper()
	return testutil.StartExample(t, "../examples/basic", []string{"-drain", "0s"}, append([]string{
		"KOMACHI_STATS_WINDOW=2s", "OTEL_SERVICE_NAME=" + costPrefix, "KOMACHI_MACKEREL_PREFIX=" + costPrefix,
	}, env...)...)
}

// watchKomachi drives the mixed traffic through ex and reads /ops/stats
// with the real plugin: its lines are the custom metrics; the graphs are
// those of /ops/stats/graphs, each of which must draw some of the lines,
// and every line must be drawn by one; a line is truncated when its
// printed value is more than 1 % off the document's.
func watchKomachi(t *testing.T, ex *testutil.Example, plugin, way string) watched {
	t.Helper()
	ex.BasicTraffic()
	lines, doc := ex.RunPlugin(plugin, costPrefix)
	exact, err := plugintest.Flatten(costPrefix, doc)
	if err != nil {
		t.Fatalf("/ops/stats: %v", err)
	}
	if len(lines) != len(exact) {
		t.Errorf("the plugin prints %d lines of the document's %d numbers", len(lines), len(exact))
	}
	w := watched{costRow: costRow{way: way, metrics: len(lines)}}
	for _, l := range lines {
		w.names = append(w.names, l.Name)
		v, ok := exact[l.Name]
		if !ok {
			t.Errorf("the plugin prints %s, which is no number of the document", l.Name)
		}
		if testutil.Truncated(l.Number, v) {
			w.truncated = append(w.truncated, fmt.Sprintf("%s printed %s, is %v", l.Name, l.Value, v))
		}
	}
	w.costRow.truncated = strconv.Itoa(len(w.truncated))

	code, body := ex.Get("/ops/stats/graphs?prefix=" + costPrefix)
	if code != http.StatusOK {
		t.Fatalf("GET /ops/stats/graphs = %d %s", code, body)
	}
	var defs struct {
		Graphs map[string]struct {
			Unit string `json:"unit"`
		} `json:"graphs"`
	}
	if err := json.Unmarshal(body, &defs); err != nil {
		t.Fatalf("/ops/stats/graphs: %v\n%s", err, body)
	}
	drawn := graphGroups(w.names)
	for name, g := range defs.Graphs {
		if !drawn[name] {
			t.Errorf("graph %s draws no line", name)
		}
		if g.Unit != "float" {
			w.units++
		}
	}
	for name := range drawn {
		if _, ok := defs.Graphs[name]; !ok {
			t.Errorf("the lines of %s have no graph definition", name)
		}
	}
	w.graphs = len(defs.Graphs)
	return w
}

// graphGroups are the graphs Mackerel draws of names without definitions:
// one per prefix up to the last dot. A definition names that same prefix.
func graphGroups(names []string) map[string]bool {
	groups := map[string]bool{}
	for _, n := range names {
		if i := strings.LastIndexByte(n, '.'); i > 0 {
			groups[n[:i]] = true
		}
	}
	return groups
}

// watchPrometheus hands the app's last OTLP export, turned back into
// metricdata, to the real OTel Prometheus exporter (the only producer of
// an otherwise empty MeterProvider with the app's resource), encodes its
// registry in the text format a scrape gets, and flattens that as a
// poster would (flattenScrape).
func watchPrometheus(t *testing.T, reqs []otlptest.Request) watched {
	t.Helper()
	if len(reqs) == 0 {
		t.Fatal("the collector got no export")
	}
	res, scopes, err := fromOTLP(reqs)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithProducer(fixedProducer(scopes)))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var scrape bytes.Buffer
	enc := expfmt.NewEncoder(&scrape, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	flat, err := flattenScrape(scrape.Bytes(), costPrefix)
	if err != nil {
		t.Fatalf("%v\n%s", err, scrape.Bytes())
	}
	w := watched{costRow: costRow{
		way:     "OTel Prometheus exporter, one metric per sample",
		metrics: len(flat.values),
		graphs:  len(graphGroups(slices.Collect(maps.Keys(flat.values)))),
	}}
	for name, v := range flat.values {
		w.names = append(w.names, name)
		printed, _ := strconv.ParseFloat(fmt.Sprintf("%f", v), 64)
		if testutil.Truncated(printed, v) {
			w.truncated = append(w.truncated, fmt.Sprintf("%s printed %f, is %v", name, v, v))
		}
	}
	slices.Sort(w.names)
	slices.Sort(w.truncated)
	w.costRow.truncated = strconv.Itoa(len(w.truncated))
	w.note = fmt.Sprintf("the same app and traffic (the previous row's process: its last OTLP export, at shutdown, fed to otel/exporters/prometheus %s), each sample of its text scrape one metric named as mackerel-plugin-prometheus-exporter does: %d samples, %d of them histogram buckets",
		moduleVersion(t, "go.opentelemetry.io/otel/exporters/prometheus"), flat.samples, flat.buckets)
	if flat.collided > 0 {
		w.note += fmt.Sprintf(", %d sharing a name with another once sanitized", flat.collided)
	}
	if flat.nonFinite > 0 {
		w.note += fmt.Sprintf(", %d not finite (not posted)", flat.nonFinite)
	}
	return w
}

// moduleVersion is the version of the module at path in this module's
// build list: a test binary carries no dependency versions of its own.
func moduleVersion(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", path).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// fixedProducer hands the same metrics to every collection.
type fixedProducer []metricdata.ScopeMetrics

func (p fixedProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) { return p, nil }

// costMarkdown lays the rows out as a Markdown table, with how each was
// obtained below it.
func costMarkdown(rows []costRow) string {
	var b strings.Builder
	b.WriteString("| way of watching examples/basic | custom metrics per Pod | micro hosts per Pod | graphs | graphs with a unit (not float) | values truncated by %f |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s |\n", r.way, r.metrics, microHosts(r.metrics), r.graphs, r.units, r.truncated)
	}
	fmt.Fprintf(&b, "\nMicro hosts: ceil((custom + %d of the agent's own) / %d). Truncated: a value %%f prints more than 1 %% off (non-zero values printed as 0 included).\n\n",
		agentMetrics, microHostMetrics)
	for _, r := range rows {
		fmt.Fprintf(&b, "- %s: %s.\n", r.way, r.note)
	}
	return b.String()
}
