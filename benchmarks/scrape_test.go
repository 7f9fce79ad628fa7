package benchmarks_test

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// flatScrape is a Prometheus scrape flattened into Mackerel metrics.
type flatScrape struct {
	values    map[string]float64 // metric name (without custom.) → value
	samples   int                // sample lines in the scrape
	buckets   int                // of those, histogram buckets (_bucket)
	collided  int                // samples whose name another sample took
	nonFinite int                // NaN and ±Inf samples, which are not posted
}

// notInMetricName is a run of characters a Mackerel metric name element
// may not hold.
var notInMetricName = regexp.MustCompile(`[^-a-zA-Z0-9_]+`)

// cleanElement makes s one metric name element: each run of other
// characters becomes one '_', and '_' at either end is dropped.
func cleanElement(s string) string {
	return strings.Trim(notInMetricName.ReplaceAllString(s, "_"), "_")
}

// flattenScrape turns a scrape in the Prometheus text format into one
// Mackerel metric per sample, named as the one Mackerel plugin for
// Prometheus exporters names them (k1LoW/mackerel-plugin-prometheus-exporter,
// prome/prometheus.go at commit 797eb33be5e3686c58b68d194498b0ef6bac6da6):
// prefix.<name>.<name>-<labels>, where <name> is the sample's metric name
// and <labels> its labels printed as {k="v", …} in key order, each made one
// element by cleanElement; a sample without labels is prefix.<name>.<name>.
// So every sample name (a histogram's _bucket, _sum and _count apart) is
// one graph. That plugin keeps the last of two samples that land on one
// name; non-finite values are not printed (go-mackerel-plugin skips them).
func flattenScrape(scrape []byte, prefix string) (flatScrape, error) {
	flat := flatScrape{values: map[string]float64{}}
	sc := bufio.NewScanner(bytes.NewReader(scrape))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, labels, value, err := parseSample(line)
		if err != nil {
			return flatScrape{}, fmt.Errorf("%q: %w", line, err)
		}
		flat.samples++
		if strings.HasSuffix(name, "_bucket") {
			flat.buckets++
		}
		if math.IsNaN(value) || math.IsInf(value, 0) {
			flat.nonFinite++
			continue
		}
		key := cleanElement(name)
		metric := key
		if len(labels) > 0 {
			metric += "-" + cleanElement(labelText(labels))
		}
		full := prefix + "." + key + "." + metric
		if _, taken := flat.values[full]; taken {
			flat.collided++
		}
		flat.values[full] = value
	}
	return flat, sc.Err()
}

// label is one label of a sample.
type label struct{ name, value string }

// labelText prints labels as Prometheus prints a label set: sorted by
// name, {a="1", b="2"}.
func labelText(labels []label) string {
	sorted := slices.Clone(labels)
	slices.SortFunc(sorted, func(a, b label) int { return strings.Compare(a.name, b.name) })
	parts := make([]string, len(sorted))
	for i, l := range sorted {
		parts[i] = l.name + "=" + strconv.Quote(l.value)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// parseSample reads one sample line of the text format:
// name[{label="value",…}] value [timestamp], label values escaped with \\,
// \" and \n.
func parseSample(line string) (name string, labels []label, value float64, err error) {
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return "", nil, 0, fmt.Errorf("no metric name")
	}
	name, rest := line[:i], line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " ,")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq <= 0 {
				return "", nil, 0, fmt.Errorf("a label without =\"")
			}
			l := label{name: rest[:eq]}
			rest = rest[eq+2:]
			var v strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				switch c := rest[j]; {
				case c == '\\' && j+1 < len(rest):
					j++
					switch rest[j] {
					case 'n':
						v.WriteByte('\n')
					default:
						v.WriteByte(rest[j])
					}
				case c == '"':
					rest, closed = rest[j+1:], true
				default:
					v.WriteByte(c)
				}
				if closed {
					break
				}
			}
			if !closed {
				return "", nil, 0, fmt.Errorf("an unterminated label value")
			}
			l.value = v.String()
			labels = append(labels, l)
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 || len(fields) > 2 {
		return "", nil, 0, fmt.Errorf("want a value and at most a timestamp after the labels")
	}
	value, err = strconv.ParseFloat(fields[0], 64)
	return name, labels, value, err
}

func TestFlattenScrape(t *testing.T) {
	scrape := `# HELP http_server_request_duration_seconds Duration of HTTP server requests.
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{http_route="/hello",otel_scope_name="go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",le="0.005"} 3
http_server_request_duration_seconds_bucket{http_route="/hello",otel_scope_name="go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",le="+Inf"} 4
http_server_request_duration_seconds_sum{http_route="/hello",otel_scope_name="go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"} 2.5e-07
http_server_request_duration_seconds_count{http_route="/hello",otel_scope_name="go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"} 4
go_goroutine_count 13
target_info{host_name="a b",odd="q\"u,o}te\\d\nx"} 1
gauge_nan NaN
`
	flat, err := flattenScrape([]byte(scrape), "p")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"p.http_server_request_duration_seconds_bucket.http_server_request_duration_seconds_bucket-http_route_hello_le_0_005_otel_scope_name_go_opentelemetry_io_contrib_instrumentation_net_http_otelhttp": 3,
		"p.http_server_request_duration_seconds_bucket.http_server_request_duration_seconds_bucket-http_route_hello_le_Inf_otel_scope_name_go_opentelemetry_io_contrib_instrumentation_net_http_otelhttp":   4,
		"p.http_server_request_duration_seconds_sum.http_server_request_duration_seconds_sum-http_route_hello_otel_scope_name_go_opentelemetry_io_contrib_instrumentation_net_http_otelhttp":                2.5e-07,
		"p.http_server_request_duration_seconds_count.http_server_request_duration_seconds_count-http_route_hello_otel_scope_name_go_opentelemetry_io_contrib_instrumentation_net_http_otelhttp":            4,
		"p.go_goroutine_count.go_goroutine_count":                   13,
		"p.target_info.target_info-host_name_a_b_odd_q_u_o_te_d_nx": 1,
	}
	if !slices.Equal(slices.Sorted(maps.Keys(flat.values)), slices.Sorted(maps.Keys(want))) {
		t.Errorf("names:\n%s\nwant:\n%s", strings.Join(slices.Sorted(maps.Keys(flat.values)), "\n"), strings.Join(slices.Sorted(maps.Keys(want)), "\n"))
	}
	for k, v := range want {
		if flat.values[k] != v {
			t.Errorf("%s = %v, want %v", k, flat.values[k], v)
		}
	}
	if flat.samples != 7 || flat.buckets != 2 || flat.nonFinite != 1 || flat.collided != 0 {
		t.Errorf("samples %d, buckets %d, non-finite %d, collided %d; want 7, 2, 1, 0",
			flat.samples, flat.buckets, flat.nonFinite, flat.collided)
	}
	if n := len(graphGroups(slices.Sorted(maps.Keys(flat.values)))); n != 5 {
		t.Errorf("%d graphs, want 5 (_bucket, _sum, _count, go_goroutine_count, target_info)", n)
	}
	for _, bad := range []string{`x{a="1} 2`, `x{a} 2`, `{a="1"} 2`, `x 1 2 3`, `x{a="1"} one`} {
		if _, err := flattenScrape([]byte(bad), "p"); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
