package harness

import (
	"context"
	"expvar"
	"fmt"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// SeriesPerInstrument is how many attribute sets each synthetic instrument
// gets: the shape of real instruments (a route or a state per series).
const SeriesPerInstrument = 10

// Bounds are the explicit buckets of the synthetic histograms, in seconds:
// those of the semantic conventions' http.server.request.duration.
var Bounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Kinds of synthetic instruments, in the order instrument i takes them
// (i mod 4): a quarter of the series are histograms.
const (
	kindCounter = iota
	kindGauge
	kindUpDown
	kindHistogram
	kinds
)

var kindNames = [kinds]string{"requests", "temperature", "inflight", "duration"}

// Synthetic is N series, one per (instrument, attribute set), recorded
// through an OTel MeterProvider and, when asked, mirrored as expvar variables
// holding the same numbers. It stands for an app's own instruments.
type Synthetic struct {
	n       int
	counter []metric.Int64Counter
	gauge   []metric.Float64Gauge
	updown  []metric.Int64UpDownCounter
	hist    []metric.Float64Histogram
	kind    []int // per instrument
	attrs   []metric.MeasurementOption
	mirror  *expvarMirror
}

// NewSynthetic creates ceil(n/10) instruments on mp with ten attribute sets
// each, n series in all; nothing is recorded yet.
func NewSynthetic(mp metric.MeterProvider, n int) (*Synthetic, error) {
	if n < 0 {
		return nil, fmt.Errorf("harness: series %d: must not be negative", n)
	}
	meter := mp.Meter("github.com/komachi-go/komachi/benchmarks/synthetic")
	s := &Synthetic{n: n}
	for j := range SeriesPerInstrument {
		s.attrs = append(s.attrs, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("http.route", "/api/v1/items/"+strconv.Itoa(j)),
			attribute.String("http.request.method", "GET"),
		)))
	}
	instruments := (n + SeriesPerInstrument - 1) / SeriesPerInstrument
	for i := range instruments {
		k := i % kinds
		name := fmt.Sprintf("app.component%d.%s", i, kindNames[k])
		var err error
		switch k {
		case kindCounter:
			var c metric.Int64Counter
			c, err = meter.Int64Counter(name, metric.WithUnit("{request}"))
			s.counter = append(s.counter, c)
		case kindGauge:
			var g metric.Float64Gauge
			g, err = meter.Float64Gauge(name, metric.WithUnit("Cel"))
			s.gauge = append(s.gauge, g)
		case kindUpDown:
			var u metric.Int64UpDownCounter
			u, err = meter.Int64UpDownCounter(name, metric.WithUnit("{request}"))
			s.updown = append(s.updown, u)
		case kindHistogram:
			var h metric.Float64Histogram
			h, err = meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(Bounds...))
			s.hist = append(s.hist, h)
		}
		if err != nil {
			return nil, fmt.Errorf("harness: instrument %s: %w", name, err)
		}
		s.kind = append(s.kind, k)
	}
	return s, nil
}

// Series is the number of series.
func (s *Synthetic) Series() int { return s.n }

// Record gives every series one measurement; round varies the values, so
// that histograms fill several buckets over rounds. It allocates nothing
// of its own.
func (s *Synthetic) Record(ctx context.Context, round int) {
	var idx [kinds]int
	for i, k := range s.kind {
		per := min(SeriesPerInstrument, s.n-i*SeriesPerInstrument)
		for j := range per {
			opt := s.attrs[j]
			switch k {
			case kindCounter:
				v := int64(1 + j)
				s.counter[idx[k]].Add(ctx, v, opt)
				s.mirror.add(i, j, v)
			case kindGauge:
				v := float64(round%100+j) + 0.5
				s.gauge[idx[k]].Record(ctx, v, opt)
				s.mirror.set(i, j, v)
			case kindUpDown:
				v := int64(1 - 2*(round%2)*(j%2)) // some go up, some go up and down
				s.updown[idx[k]].Add(ctx, v, opt)
				s.mirror.add(i, j, v)
			case kindHistogram:
				v := latency(round, i, j)
				s.hist[idx[k]].Record(ctx, v, opt)
				s.mirror.observe(i, j, v)
			}
		}
		idx[k]++
	}
}

// latency spreads values from 1 ms to about 6 s over rounds, so that every
// bucket of Bounds sees some.
func latency(round, i, j int) float64 {
	x := (round*7919 + i*104729 + j*1299709) % 1000
	return 0.001 * float64(1+x*x/160)
}

// expvarMirror holds the same numbers as expvar variables: an app that uses
// expvar publishes its counters, gauges and (hand-made) histograms this way.
type expvarMirror struct {
	root  *expvar.Map
	vars  [][]expvar.Var // per instrument, per attribute set
	hists [][]*expvarHist
}

type expvarHist struct {
	count   *expvar.Int
	sum     *expvar.Float
	buckets []*expvar.Int // one per bound, and +Inf
}

// Expvar returns a Map holding the same series as expvar variables, kept up
// to date by every later Record: per instrument a Map keyed by the
// attribute values ("GET-/api/v1/items/3"); counters and up-down counters
// are Ints, gauges Floats, histograms a Map of count, sum and the
// non-cumulative count of each bucket keyed by its upper bound.
// Call it before recording.
func (s *Synthetic) Expvar() *expvar.Map {
	if s.mirror != nil {
		return s.mirror.root
	}
	m := &expvarMirror{root: new(expvar.Map).Init()}
	for i, k := range s.kind {
		inst := new(expvar.Map).Init()
		m.root.Set(fmt.Sprintf("app.component%d.%s", i, kindNames[k]), inst)
		per := min(SeriesPerInstrument, s.n-i*SeriesPerInstrument)
		vars := make([]expvar.Var, per)
		var hists []*expvarHist
		for j := range per {
			key := "GET-/api/v1/items/" + strconv.Itoa(j)
			switch k {
			case kindCounter, kindUpDown:
				vars[j] = new(expvar.Int)
			case kindGauge:
				vars[j] = new(expvar.Float)
			case kindHistogram:
				h := &expvarHist{count: new(expvar.Int), sum: new(expvar.Float)}
				hm := new(expvar.Map).Init()
				hm.Set("count", h.count)
				hm.Set("sum", h.sum)
				bm := new(expvar.Map).Init()
				for b := range len(Bounds) + 1 {
					v := new(expvar.Int)
					h.buckets = append(h.buckets, v)
					le := "+Inf"
					if b < len(Bounds) {
						le = strconv.FormatFloat(Bounds[b], 'g', -1, 64)
					}
					bm.Set(le, v)
				}
				hm.Set("buckets", bm)
				hists = append(hists, h)
				vars[j] = hm
			}
			inst.Set(key, vars[j])
		}
		m.vars = append(m.vars, vars)
		m.hists = append(m.hists, hists)
	}
	s.mirror = m
	return m.root
}

func (m *expvarMirror) add(i, j int, v int64) {
	if m != nil {
		m.vars[i][j].(*expvar.Int).Add(v)
	}
}

func (m *expvarMirror) set(i, j int, v float64) {
	if m != nil {
		m.vars[i][j].(*expvar.Float).Set(v)
	}
}

func (m *expvarMirror) observe(i, j int, v float64) {
	if m == nil {
		return
	}
	h := m.hists[i][j]
	h.count.Add(1)
	h.sum.Add(v)
	b := 0
	for b < len(Bounds) && v > Bounds[b] {
		b++
	}
	h.buckets[b].Add(1)
}
