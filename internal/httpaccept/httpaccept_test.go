package httpaccept

import (
	"fmt"
	"slices"
	"testing"
)

// validQValues is every string RFC 9110's qvalue grammar admits, with its
// value in thousandths, spelled out rather than parsed: the reference the
// tests hold QValue to.
var validQValues = func() map[string]int {
	m := map[string]int{"0": 0, "0.": 0, "1": 1000, "1.": 1000, "1.0": 1000, "1.00": 1000, "1.000": 1000}
	for d := range 1000 {
		m[fmt.Sprintf("0.%03d", d)] = d
		if d%10 == 0 {
			m[fmt.Sprintf("0.%02d", d/10)] = d
		}
		if d%100 == 0 {
			m[fmt.Sprintf("0.%d", d/100)] = d
		}
	}
	return m
}()

func checkQValue(t *testing.T, s string) {
	t.Helper()
	want, wantOK := validQValues[s]
	if got, ok := QValue(s); ok != wantOK || got != want {
		t.Errorf("QValue(%q) = %d, %v; want %d, %v", s, got, ok, want, wantOK)
	}
}

func TestQValue(t *testing.T) {
	for s := range validQValues {
		checkQValue(t, s)
	}
	for _, s := range []string{"", ".", ".5", "2", "-1", "1.5", "1.001", "0.1234", "0,5", "0.5 ", " 0.5", "00", "01", "1..", "0.a", "q", "1e0"} {
		checkQValue(t, s)
	}
}

func FuzzQValue(f *testing.F) {
	for _, s := range []string{"0", "1.", "0.001", "1.000", "0.1234", "1.5", "2"} {
		f.Add(s)
	}
	f.Fuzz(checkQValue)
}

func TestWeight(t *testing.T) {
	for _, tc := range []struct {
		params string
		q      int
		ok     bool
	}{
		{"", 1000, true},
		{"level=9", 1000, true},
		{"q=0.5", 500, true},
		{" \tQ \t= \t0.5 \t", 500, true},
		{"charset=utf-8; q=0", 0, true},
		{"q=1;q=0", 1000, true}, // the first q counts
		{"q=", 0, false},
		{"q=2", 0, false},
		{"q", 0, false},
		{"qq=0", 1000, true},
	} {
		if q, ok := Weight(tc.params); q != tc.q || ok != tc.ok {
			t.Errorf("Weight(%q) = %d, %v; want %d, %v", tc.params, q, ok, tc.q, tc.ok)
		}
	}
}

func TestTrimOWS(t *testing.T) {
	for in, want := range map[string]string{"": "", " \t": "", "\t a b \t": "a b", "x": "x", "\nx\n": "\nx\n"} {
		if got := TrimOWS(in); got != want {
			t.Errorf("TrimOWS(%q) = %q, want %q", in, got, want)
		}
	}
}

type element struct {
	token string
	q     int
}

func collect(values []string) []element {
	var got []element
	for token, q := range Elements(values) {
		got = append(got, element{token, q})
	}
	return got
}

func TestElements(t *testing.T) {
	got := collect([]string{" GZip ;q=0.5 , ,,br;q=2, *;level=1", "", "identity;q=0", "text/html;charset=utf-8;q=0.001"})
	want := []element{{"GZip", 500}, {"*", 1000}, {"identity", 0}, {"text/html", 1}}
	if !slices.Equal(got, want) {
		t.Errorf("Elements = %v, want %v", got, want)
	}
	if got := collect(nil); got != nil {
		t.Errorf("Elements(nil) = %v", got)
	}
	// Stopping early stops the walk.
	n := 0
	for range Elements([]string{"a", "b, c"}) {
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("break after 2: walked %d", n)
	}
}

// TestElementsNoAllocs: the handlers' own no-allocation tests rest on this.
func TestElementsNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; run without -race")
	}
	values := []string{"br;q=1.0, gzip;q=0.8", " *;q=0.1 , identity;q=0"}
	sum := 0
	if allocs := testing.AllocsPerRun(100, func() {
		for _, q := range Elements(values) {
			sum += q
		}
	}); allocs != 0 {
		t.Errorf("%v allocs per walk, want 0", allocs)
	}
	if sum == 0 {
		t.Error("walked nothing")
	}
}
