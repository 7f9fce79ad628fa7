package exporter

import (
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

func TestParseRules(t *testing.T) {
	f := func(in string, want ...Rule) {
		t.Helper()
		got, err := ParseRules(in)
		if err != nil {
			t.Errorf("ParseRules(%q): %v", in, err)
			return
		}
		if len(want) == 0 {
			want = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseRules(%q) = %#v, want %#v", in, got, want)
		}
	}
	f("")
	f(" ; ;")
	f("a", Rule{Match: "a"})
	f("-go.*", Rule{Match: "go.*", Off: true})
	f("h:p99", Rule{Match: "h", Stats: []string{"p99"}})
	f("h: count , p99 ", Rule{Match: "h", Stats: []string{"count", "p99"}})
	f("h@", Rule{Match: "h", Merge: true})
	f("h:count@", Rule{Match: "h", Stats: []string{"count"}, Merge: true})
	f("h@http.route,http.request.method=GET|POST", Rule{Match: "h", Keys: []string{"http.route", "http.request.method=GET|POST"}})
	// After '@' everything is keys: a value may hold ':' and '/'.
	f("h@url.full=http://x/a:b", Rule{Match: "h", Keys: []string{"url.full=http://x/a:b"}})
	f("  a ;-b; c:sum  ", Rule{Match: "a"}, Rule{Match: "b", Off: true}, Rule{Match: "c", Stats: []string{"sum"}})
	f("http.server.request.duration:count,p99@http.route=/users|/orders;-app.debug.*",
		Rule{Match: "http.server.request.duration", Stats: []string{"count", "p99"}, Keys: []string{"http.route=/users|/orders"}},
		Rule{Match: "app.debug.*", Off: true})
	f("*:avg,count,max,min,p50,p90,p95,p99,sum", Rule{Match: "*", Stats: []string{"avg", "count", "max", "min", "p50", "p90", "p95", "p99", "sum"}})
}

func TestParseRulesErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"h:p42", `rule 1: h: unknown stat "p42"`},
		{"a;h:p50,median", `rule 2: h: unknown stat "median"`},
		{"h:", `unknown stat ""`},
		{"h:count,", `unknown stat ""`},
		{":count", "rule 1: empty instrument name or pattern"},
		{"-", "empty instrument name or pattern"},
		{"@k", "empty instrument name or pattern"},
		{" - :p99", "empty instrument name or pattern"},
		{"h@k,", "h: empty attribute key"},
		{"h@=v", "h: empty attribute key"},
		// ':' starts the stats: a name with one is a name and a stat.
		{"a:b", `unknown stat "b"`},
		// What the syntax would otherwise take silently.
		{"a b", "holds no white space"},
		{"a@@b", `attribute key "@b" holds white space or one of`},
		{"a@b,b", `attribute key "b" given twice`},
		{"a:count@x=1|2,x=3", `attribute key "x" given twice`},
		{"a@b=|", `attribute key "b": an empty value in its list`},
		{"a@b=", `attribute key "b": an empty value in its list`},
	} {
		_, err := ParseRules(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRules(%q) = %v, want an error with %q", tc.in, err, tc.want)
		}
	}
}

// The Go API checks what the syntax cannot say.
func TestRulesErrorsThroughTheGoAPI(t *testing.T) {
	for _, tc := range []struct {
		r    Rule
		want string
	}{
		{Rule{Match: "h", Merge: true, Keys: []string{"k"}}, "h: Merge keeps no key, but Keys lists 1"},
		{Rule{Match: "a:b"}, `"a:b": an instrument pattern holds no white space nor any of : @ ; , | =`},
		{Rule{Match: "a@b"}, "an instrument pattern holds no"},
		{Rule{Match: "a;b"}, "an instrument pattern holds no"},
		{Rule{}, "empty instrument name or pattern"},
		{Rule{Match: "h", Stats: []string{"P99"}}, `unknown stat "P99"`},
		{Rule{Match: "h", Keys: []string{" "}}, "empty attribute key"},
	} {
		_, err := New(WithRules(tc.r))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "exporter: WithRules: rule 1: ") {
			t.Errorf("New(WithRules(%#v)) = %v, want an error naming WithRules, the rule and %q", tc.r, err, tc.want)
		}
	}
	// The second rule given is named as rule 2.
	if _, err := New(WithRules(Rule{Match: "a"}, Rule{Match: "b", Stats: []string{"x"}})); err == nil || !strings.Contains(err.Error(), "rule 2: b:") {
		t.Errorf("error %v does not name rule 2", err)
	}
}

// String gives the syntax ParseRules reads, so a rule survives the trip
// (Stacked aside, which the syntax does not carry).
func TestRuleStringRoundTrip(t *testing.T) {
	for _, r := range append(DefaultRules(), AllRules()...) {
		r.Stacked = false
		got, err := ParseRules(r.String())
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], r) {
			t.Errorf("%#v: String %q parses to %#v, %v", r, r.String(), got, err)
		}
	}
	for in, want := range map[string]string{
		"-go.*":              "-go.*",
		"h:count,p99@":       "h:count,p99@",
		"h@k,j=a|b":          "h@k,j=a|b",
		"  h : p99 @ k = v ": "h:p99@k = v",
	} {
		rs, err := ParseRules(in)
		if err != nil || len(rs) != 1 || rs[0].String() != want {
			t.Errorf("ParseRules(%q) = %v, %v; String %q, want %q", in, rs, err, rs[0].String(), want)
		}
	}
}

// globMatch is the meaning of a pattern, byte by byte: '*' is any run of
// bytes, every other byte itself.
func globMatch(pattern, name string) bool {
	// ok[j]: pattern[:i] matches name[:j], for the i of the loop.
	ok := make([]bool, len(name)+1)
	ok[0] = true
	for i := 0; i < len(pattern); i++ {
		next := make([]bool, len(name)+1)
		if pattern[i] == '*' {
			seen := false
			for j := range ok {
				seen = seen || ok[j]
				next[j] = seen
			}
		} else {
			for j := 1; j <= len(name); j++ {
				next[j] = ok[j-1] && name[j-1] == pattern[i]
			}
		}
		ok = next
	}
	return ok[len(name)]
}

func TestRuleMatching(t *testing.T) {
	f := func(pattern, name string, want bool) {
		t.Helper()
		c, err := compileRule(Rule{Match: pattern})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.matches(name); got != want {
			t.Errorf("%q matches %q = %v, want %v", pattern, name, got, want)
		}
		if got := globMatch(pattern, name); got != want {
			t.Fatalf("the test's own reading of %q on %q is %v", pattern, name, got)
		}
	}
	f("a", "a", true)
	f("a", "ab", false)
	f("a", "", false)
	f("*", "", true)
	f("*", "anything.at.all", true)
	f("http.server.*", "http.server.request.duration", true)
	f("http.server.*", "http.server.", true)
	f("http.server.*", "http.server", false)
	f("http.server.*", "http.client.request.duration", false)
	f("*.duration", "rpc.server.duration", true)
	f("*.duration", "rpc.server.duration.x", false)
	f("go.*.count", "go.goroutine.count", true)
	f("go.*.count", "go.a.b.count", true)
	f("go.*.count", "go.count", false) // the prefix and the suffix may not overlap
	f("a*a", "a", false)
	f("a*a", "aa", true)
	f("ab*ba", "aba", false)
	f("a*b*c", "abc", true)
	f("a*b*c", "acb", false)
	f("a*b*c", "axxbyybzc", true)
	f("*a*", "xay", true)
	f("a**b", "ab", true)
	f("*x*x*", "x", false)
	f("*x*x*", "xx", true)
}

// The first rule that matches decides, the user's before DefaultRules.
func TestSelectionLookup(t *testing.T) {
	sel, err := newSelection([]Rule{{Match: "go.memory.allocations"}, {Match: "app.debug.*", Off: true}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"go.memory.allocations":         "go.memory.allocations", // the user's rule turns it on
		"go.goroutine.count":            "go.goroutine.count",
		"go.memory.gc.pause.duration":   "go.memory.gc.pause.duration:p99",
		"go.processor.limit":            "-go.*",
		"go.config.gogc":                "-go.*",
		"process.cpu.time":              "process.cpu.time@",
		"process.memory.usage":          "-process.*",
		"go.cpu.time":                   "-go.*",
		"process.thread.count":          "process.thread.count",
		"system.cpu.time":               "-system.*",
		"komachi.exporter.exports":      "-komachi.*",
		"komachi.exporter.metrics":      "komachi.exporter.metrics",
		"komachi.exporter.dropped":      "komachi.exporter.dropped@",
		"http.server.request.duration":  "http.server.request.duration:count,p99@",
		"http.server.request.body.size": "-http.*",
		"app.debug.cache":               "-app.debug.*",
		"app.orders":                    "*:count,p99",
		"":                              "*:count,p99",
	} {
		if got := sel.lookup(name).String(); got != want {
			t.Errorf("%q: rule %q, want %q", name, got, want)
		}
	}
}

// keep applies a rule's keys to a series' attributes.
func TestRuleKeep(t *testing.T) {
	c, err := compileRule(Rule{Match: "h", Keys: []string{"route=/a|/b", "method"}})
	if err != nil {
		t.Fatal(err)
	}
	f := func(in attribute.Set, want attribute.Set, wantOK bool) {
		t.Helper()
		got, ok := c.keep(&in)
		if ok != wantOK || (ok && !got.Equals(&want)) {
			t.Errorf("keep(%v) = %v, %v; want %v, %v", in.Encoded(attribute.DefaultEncoder()), got.Encoded(attribute.DefaultEncoder()), ok, want.Encoded(attribute.DefaultEncoder()), wantOK)
		}
	}
	f(attrs("route", "/a", "method", "GET", "status", "200"), attrs("route", "/a", "method", "GET"), true)
	f(attrs("route", "/b", "status", "200"), attrs("route", "/b"), true)
	f(attrs("route", "/c", "method", "GET"), attribute.Set{}, false)
	f(attrs("method", "GET"), attribute.Set{}, false) // no route: no value among the wanted
	overflow := attribute.NewSet(attribute.Bool(string(overflowKey), true))
	f(overflow, overflow, true) // the overflow series passes every filter
	// Values are compared as the attribute's string form.
	ci, _ := compileRule(Rule{Match: "h", Keys: []string{"code=500"}})
	in := attribute.NewSet(attribute.Int("code", 500), attribute.Bool("ok", false))
	if got, ok := ci.keep(&in); !ok || got.Len() != 1 {
		t.Errorf("an int attribute 500 did not pass code=500: %v %v", got, ok)
	}
}

// FuzzParseRules: any text either parses or is an error, never a panic,
// and a parsed rule's String parses to the same rule, which matches the
// names its pattern means.
func FuzzParseRules(f *testing.F) {
	for _, s := range []string{
		"", "a", "-go.*", "h:count,p99@http.route=/users|/orders;-app.debug.*", "h@", "h:p42", ":", "@", "-", ";;",
		"  a ; b:sum @ k ", "a@k=v@w", "--a", "*x*", "a:b:c", "a@k=:/|", "\x00;\xff",
	} {
		f.Add(s, "http.server.request.duration")
	}
	f.Fuzz(func(t *testing.T, s, name string) {
		rules, err := ParseRules(s)
		if err != nil {
			if rules != nil {
				t.Fatalf("an error and rules: %v, %v", rules, err)
			}
			return
		}
		for _, r := range rules {
			again, err := ParseRules(r.String())
			if err != nil || len(again) != 1 || !reflect.DeepEqual(again[0], r) {
				t.Fatalf("%#v: String %q parses to %#v, %v", r, r.String(), again, err)
			}
			c, err := compileRule(r)
			if err != nil {
				t.Fatalf("a parsed rule does not compile: %v", err)
			}
			if got, want := c.matches(name), globMatch(r.Match, name); got != want {
				t.Fatalf("%q matches %q = %v, want %v", r.Match, name, got, want)
			}
			if _, err := New(WithRules(r)); err != nil {
				t.Fatalf("a parsed rule is refused by New: %v", err)
			}
		}
	})
}
