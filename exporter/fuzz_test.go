package exporter

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "ok", "a b", "a.b", "ユニ", "\xff\xfe", "a:b/c", strings.Repeat("z", 300), "-_-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Sanitize(s)
		if got == "" {
			t.Fatal("empty segment")
		}
		for i := 0; i < len(got); i++ {
			if !validByte(got[i]) {
				t.Fatalf("Sanitize(%q) = %q holds %q", s, got, got[i])
			}
		}
		if Sanitize(got) != got {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, got, Sanitize(got))
		}
		// One character out, one character in: the shape of the name stays.
		if s != "" && utf8.ValidString(s) && utf8.RuneCountInString(s) != len(got) {
			t.Fatalf("Sanitize(%q) = %q changed the length", s, got)
		}
		// A name is its sanitized segments joined by dots, empty ones gone.
		name := string(appendName(nil, s))
		for _, seg := range strings.Split(strings.TrimSuffix(name, "\x00"), "\x00") {
			if seg == "" || Sanitize(seg) != seg {
				t.Fatalf("appendName(%q) has segment %q", s, seg)
			}
		}
	})
}

// fuzzInput turns bytes into scopes, metrics and points: names and attribute
// values are taken from the bytes (hostile on purpose: dots, unicode, empty),
// and every point gets its own value, so a value seen twice or missing in the
// output is a series merged or lost.
func fuzzInput(data []byte) (*metricdata.ResourceMetrics, []float64, int) {
	rm := &metricdata.ResourceMetrics{}
	var values []float64
	nonFinite := 0
	next := func(n int) string {
		if n > len(data) {
			n = len(data)
		}
		s := string(data[:n])
		data = data[n:]
		return s
	}
	byteOr := func(d byte) byte {
		if len(data) == 0 {
			return d
		}
		b := data[0]
		data = data[1:]
		return b
	}
	id := 1.0
	for len(data) > 0 && len(rm.ScopeMetrics) < 4 {
		sm := metricdata.ScopeMetrics{}
		sm.Scope.Name = next(int(byteOr(0) % 4))
		for nm := int(byteOr(1)%4) + 1; nm > 0 && len(data) > 0; nm-- {
			name := next(int(byteOr(3) % 12))
			var pts []metricdata.DataPoint[float64]
			seen := map[attribute.Distinct]bool{}
			for np := int(byteOr(1)%4) + 1; np > 0; np-- {
				var kvs []attribute.KeyValue
				for na := int(byteOr(0) % 3); na > 0; na-- {
					kvs = append(kvs, attribute.String(next(int(byteOr(1)%3)), next(int(byteOr(2)%6))))
				}
				set := attribute.NewSet(kvs...)
				if seen[set.Equivalent()] {
					continue // the SDK never hands over one series twice
				}
				seen[set.Equivalent()] = true
				v := id
				id++
				switch byteOr(0) % 16 {
				case 13:
					v, nonFinite = math.NaN(), nonFinite+1
				case 14:
					v, nonFinite = math.Inf(1), nonFinite+1
				case 15:
					if len(data) >= 8 {
						v = math.Float64frombits(binary.LittleEndian.Uint64(data))
						data = data[8:]
						if math.IsNaN(v) || math.IsInf(v, 0) {
							nonFinite++
						}
					}
				}
				if !math.IsNaN(v) && !math.IsInf(v, 0) {
					values = append(values, v)
				}
				pts = append(pts, metricdata.DataPoint[float64]{Attributes: set, Value: v})
			}
			sm.Metrics = append(sm.Metrics, metricdata.Metrics{Name: name, Data: metricdata.Gauge[float64]{DataPoints: pts}})
		}
		rm.ScopeMetrics = append(rm.ScopeMetrics, sm)
	}
	return rm, values, nonFinite
}

func FuzzRender(f *testing.F) {
	f.Add([]byte("\x01\x02a.b\x01\x00\x00a.b.c\x00"))
	f.Add([]byte("\x00\x03\x05.x..y\x02\x01\x01k\x03a b\x01\x01k\x03a:b\x00"))
	f.Add([]byte("\x02sc\x01\x04name\x01\x00\x00\x02sc\x01\x04name\x01\x00"))
	f.Add([]byte("\x00\x01\x08ユニ.\x02\x00\x0d\x0e"))
	f.Add([]byte("\x00\x02\x01_\x00\x01_\x00\x02__2\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rm, values, nonFinite := fuzzInput(data)
		exp, _ := New(serveAll())
		if err := exp.Export(context.Background(), rm); err != nil {
			t.Fatal(err)
		}
		body, gz := exp.Document()
		leaves, err := checkShape(body)
		if err != nil {
			t.Fatalf("%v\n%s", err, body)
		}
		flat, err := pluginFlatten("app", body)
		if err != nil {
			t.Fatalf("%v\n%s", err, body)
		}
		for name := range flat {
			if !mackerelName.MatchString(name) {
				t.Fatalf("invalid name %q", name)
			}
		}
		dropped := exp.stats.dropped[dropUnresolved].Load()
		if got := int64(exp.stats.dropped[dropNonFinite].Load()); got != int64(nonFinite) {
			t.Fatalf("non-finite counted %d, want %d", got, nonFinite)
		}
		// Every series on a leaf of its own: the values in the output are the
		// values in, less what was counted as unresolved.
		got := make([]float64, 0, len(flat))
		for _, v := range flat {
			got = append(got, v)
		}
		slices.Sort(got)
		slices.Sort(values)
		if dropped == 0 && !slices.Equal(got, values) {
			t.Fatalf("values in %v, out %v\n%s", values, got, body)
		}
		if int64(len(values)) != int64(leaves)+dropped {
			t.Fatalf("%d series in, %d leaves out, %d dropped", len(values), leaves, dropped)
		}
		if string(gunzip(t, gz)) != string(body) {
			t.Fatal("gzip form differs")
		}
		// The same input, handed over in another order, gives the same bytes.
		slices.Reverse(rm.ScopeMetrics)
		for i := range rm.ScopeMetrics {
			slices.Reverse(rm.ScopeMetrics[i].Metrics)
		}
		again, _ := New(serveAll())
		if err := again.Export(context.Background(), rm); err != nil {
			t.Fatal(err)
		}
		body2, _ := again.Document()
		if string(body2) != string(body) {
			t.Fatalf("order-dependent output:\n%s\n%s", body, body2)
		}
	})
}

// FuzzAppendValue: every finite float is written as encoding/json writes
// it, the whole ones included.
func FuzzAppendValue(f *testing.F) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, 12, 123.4, 0.1, 1e-6, 9.99e-7, 1e21, 1e20, -1e20,
		1 << 53, 1<<53 - 1, 1<<53 + 2, -(1 << 53), 1 << 62, 1 << 63, -(1 << 63), 1e300, 5e-324, 0.001 * 1000} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		v := math.Float64frombits(bits)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return // left out before they are written
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendValue(nil, bits, kindFloat); string(got) != string(want) {
			t.Fatalf("%v (%#x): %s, encoding/json writes %s", v, bits, got, want)
		}
		if whole := math.Trunc(v); whole == v && whole == float64(int64(whole)) {
			// A whole float's neighbours, where the fast path stops.
			for _, w := range []float64{math.Nextafter(v, math.Inf(1)), math.Nextafter(v, math.Inf(-1))} {
				want, _ := json.Marshal(w)
				if got := appendValue(nil, math.Float64bits(w), kindFloat); string(got) != string(want) {
					t.Fatalf("%v: %s, encoding/json writes %s", w, got, want)
				}
			}
		}
	})
}
