package exporter

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/komachi-go/komachi/internal/plugintest"
)

var (
	t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Minute)
)

// serveAll is the selection of the tests of mechanics (windows, collisions,
// caches): every instrument, series and stat, whole.
func serveAll() Option { return WithRules(AllRules()...) }

// mackerelName is the rule mackerel-agent applies to a plugin metric name.
var mackerelName = plugintest.NameRule

func attrs(kv ...string) attribute.Set {
	var s []attribute.KeyValue
	for i := 0; i+1 < len(kv); i += 2 {
		s = append(s, attribute.String(kv[i], kv[i+1]))
	}
	return attribute.NewSet(s...)
}

func scope(name string, ms ...metricdata.Metrics) metricdata.ScopeMetrics {
	return metricdata.ScopeMetrics{Scope: instrumentation.Scope{Name: name}, Metrics: ms}
}

func rmOf(sms ...metricdata.ScopeMetrics) *metricdata.ResourceMetrics {
	return &metricdata.ResourceMetrics{ScopeMetrics: sms}
}

func gaugeF(name string, pts ...metricdata.DataPoint[float64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Data: metricdata.Gauge[float64]{DataPoints: pts}}
}

func gaugeI(name string, pts ...metricdata.DataPoint[int64]) metricdata.Metrics {
	return metricdata.Metrics{Name: name, Data: metricdata.Gauge[int64]{DataPoints: pts}}
}

func ptF(v float64, a attribute.Set) metricdata.DataPoint[float64] {
	return metricdata.DataPoint[float64]{Attributes: a, StartTime: t0, Time: t1, Value: v}
}

func ptI(v int64, a attribute.Set) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Attributes: a, StartTime: t0, Time: t1, Value: v}
}

// pluginFlatten reads body as mackerel-plugin-json does; see plugintest.
func pluginFlatten(prefix string, body []byte) (map[string]float64, error) {
	return plugintest.Flatten(prefix, body)
}

// pluginLines renders flattened metrics as the plugin prints them
// (name\tvalue\tepoch with %f), sorted, at a fixed epoch.
func pluginLines(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s\t%f\t%d\n", n, m[n], t1.Unix())
	}
	return b.String()
}

// checkShape walks body with a token decoder and checks the contract's shape:
// objects and finite numbers only, keys valid, unique and sorted. It returns
// the number of leaves.
func checkShape(body []byte) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	leaves := 0
	var object func(path string) error
	object = func(path string) error {
		last := ""
		for first := true; dec.More(); first = false {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key := tok.(string)
			if !mackerelName.MatchString(key) || strings.Contains(key, ".") {
				return fmt.Errorf("%s: invalid key %q", path, key)
			}
			if !first && key <= last {
				return fmt.Errorf("%s: key %q after %q: not sorted and unique", path, key, last)
			}
			last = key
			tok, err = dec.Token()
			if err != nil {
				return err
			}
			switch v := tok.(type) {
			case json.Delim:
				if v != '{' {
					return fmt.Errorf("%s.%s: %v is not an object", path, key, v)
				}
				if err := object(path + "." + key); err != nil {
					return err
				}
				if _, err := dec.Token(); err != nil { // '}'
					return err
				}
			case json.Number:
				f, err := v.Float64()
				if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
					return fmt.Errorf("%s.%s: %v is not a finite number", path, key, v)
				}
				leaves++
			default:
				return fmt.Errorf("%s.%s: %T is not a number or object", path, key, tok)
			}
		}
		return nil
	}
	tok, err := dec.Token()
	if err != nil {
		return 0, err
	}
	if tok != json.Delim('{') {
		return 0, fmt.Errorf("document is not an object")
	}
	if err := object(""); err != nil {
		return 0, err
	}
	if _, err := dec.Token(); err != nil {
		return 0, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return 0, fmt.Errorf("trailing data after the document")
	}
	return leaves, nil
}

func gunzip(t interface{ Fatal(...any) }, gz []byte) []byte {
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
