package benchmarks_test

import (
	"context"
	"encoding/json"
	"testing"
)

// Each komachi row of BenchmarkCollectRender serves the document its
// selection promises, so that its ns/series is the cost of that document:
// at 100 series (3 counters, 3 gauges, 2 up-down counters and 2 histograms
// of 10 attribute sets each), everything whole is 80 scalars and 20 × 9
// histogram stats; the defaults keep count and p99; the merging rules fold
// each counter and histogram into one line per method, with the sum of its
// routes.
func TestCollectRenderDocuments(t *testing.T) {
	want := map[string]int{
		"komachi":                   80 + 20*9,
		"komachi+selection=default": 80 + 20*2,
		"komachi+selection=merge":   3 + 30 + 20 + 2*2,
	}
	for _, row := range komachiRows {
		t.Run(row.name, func(t *testing.T) {
			k := newKomachi(t, 100, row.rules)
			for r := range 2 { // the baseline, then a window
				k.synth.Record(context.Background(), r)
				if err := k.once(); err != nil {
					t.Fatal(err)
				}
			}
			body, _ := k.exp.Document()
			n, err := countLeaves(body)
			if err != nil {
				t.Fatal(err)
			}
			if n != want[row.name] {
				t.Errorf("%d leaves, want %d:\n%.600s", n, want[row.name], body)
			}
			if row.name != "komachi+selection=merge" {
				return
			}
			var doc struct {
				App map[string]map[string]json.RawMessage `json:"app"`
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			// One window: each of the 10 routes counted 1+j and got one
			// latency.
			if got := string(doc.App["component0"]["requests"]); got != `{"GET":55}` {
				t.Errorf("merged counter = %s, want {\"GET\":55}", got)
			}
			var hist map[string]map[string]float64
			if err := json.Unmarshal(doc.App["component3"]["duration"], &hist); err != nil {
				t.Fatal(err)
			}
			if len(hist) != 2 || hist["count"]["GET"] != 10 || hist["p99"]["GET"] <= 0 {
				t.Errorf("merged histogram = %v, want count 10 and a p99 for GET", hist)
			}
		})
	}
}
