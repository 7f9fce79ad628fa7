package plugintest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	mpjson "github.com/mackerelio/mackerel-plugin-json/lib"
	"go.uber.org/goleak"

	"github.com/komachi-go/komachi/internal/plugintest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// realPlugin hands documents to the real plugin library on its -stdin
// path. Its -url path reads the same bytes over HTTP, but the library
// dials a new connection per fetch: at fuzzing rates that exhausts the
// loopback ports. The end-to-end test runs the command over HTTP.
type realPlugin struct {
	mu    sync.Mutex // one read at a time: os.Stdin is the process's
	stdin *os.File
}

func newRealPlugin(tb testing.TB) *realPlugin {
	f, err := os.CreateTemp(tb.TempDir(), "stdin")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return &realPlugin{stdin: f}
}

// reading is what the real plugin made of one document.
type reading struct {
	lines    map[string]string // name → value as the plugin prints it (%f)
	values   map[string]float64
	err      error // FetchMetrics' error: the plugin prints nothing
	panicked any   // the plugin crashes
}

// read runs the library's FetchMetrics over body with -prefix=prefix and
// the command's defaults for -include and -exclude (mpjson.Do), and
// formats each value as Do prints it.
func (p *realPlugin) read(tb testing.TB, prefix string, body []byte) (r reading) {
	tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.stdin.Truncate(0); err != nil {
		tb.Fatal(err)
	}
	if _, err := p.stdin.WriteAt(body, 0); err != nil {
		tb.Fatal(err)
	}
	if _, err := p.stdin.Seek(0, io.SeekStart); err != nil {
		tb.Fatal(err)
	}
	saved := os.Stdin
	os.Stdin = p.stdin
	defer func() { os.Stdin = saved }()
	plugin := mpjson.JSONPlugin{
		Stdin:      true,
		Prefix:     prefix,
		IncludeExp: regexp.MustCompile(``),
		ExcludeExp: regexp.MustCompile(`^$`),
	}
	defer func() {
		if v := recover(); v != nil {
			r = reading{panicked: v}
		}
	}()
	values, err := plugin.FetchMetrics()
	return reading{values: values, err: err, lines: printed(values)}
}

// printed formats values as mpjson.Do prints them: "%s\t%f\t%d".
func printed(values map[string]float64) map[string]string {
	lines := make(map[string]string, len(values))
	for name, v := range values {
		lines[name] = fmt.Sprintf("%f", v)
	}
	return lines
}

// leaf is a scalar of a JSON document under its full name: the prefix,
// then every key and array index on the way to it.
type leaf struct {
	name  string
	value any // float64, string, bool or nil
}

// document is what a reader that loses nothing sees of a JSON document. It
// knows nothing of the plugin.
type document struct {
	top      json.Delim // '{' or '[', 0 for a scalar
	arrays   bool       // an array anywhere
	leaves   []leaf
	repeated []string // keys given twice in one object, by full name
}

// readDocument reads body token by token, so that it also sees what a
// decode into any hides: a key given twice.
func readDocument(prefix string, body []byte) (document, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	var doc document
	var value func(name string) error
	value = func(name string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		d, ok := tok.(json.Delim)
		if name == prefix { // the top: every name below it is longer
			doc.top = d
		}
		if !ok {
			doc.leaves = append(doc.leaves, leaf{name, tok})
			return nil
		}
		doc.arrays = doc.arrays || d == '['
		seen := map[string]bool{}
		for i := 0; dec.More(); i++ {
			elem := strconv.Itoa(i)
			if d == '{' {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				elem = k.(string)
				if seen[elem] {
					doc.repeated = append(doc.repeated, name+"."+elem)
				}
				seen[elem] = true
			}
			if err := value(name + "." + elem); err != nil {
				return err
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	if err := value(prefix); err != nil {
		return document{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return document{}, fmt.Errorf("data after the document: %v", err)
	}
	return doc, nil
}

// loss says what a reading lost of the document's leaves: a leaf the
// plugin dropped, renamed, merged with another, or a crash. "" when the
// plugin printed every leaf under its full name with its value.
func loss(r reading, doc document) string {
	switch {
	case r.panicked != nil:
		return fmt.Sprintf("the plugin panics: %v", r.panicked)
	case r.err != nil:
		return fmt.Sprintf("the plugin prints nothing: %v", r.err)
	case len(doc.repeated) > 0:
		return fmt.Sprintf("%s is given twice: encoding/json keeps the last", doc.repeated[0])
	}
	want := map[string]float64{}
	for _, l := range doc.leaves {
		f, ok := l.value.(float64)
		if !ok {
			return fmt.Sprintf("%s is %T: the plugin keeps numbers only", l.name, l.value)
		}
		if _, dup := want[l.name]; dup {
			return fmt.Sprintf("two leaves named %s", l.name)
		}
		want[l.name] = f
	}
	for name, f := range want {
		if got, ok := r.values[name]; !ok {
			return fmt.Sprintf("%s is not printed under that name", name)
		} else if got != f {
			return fmt.Sprintf("%s is printed as %v, not %v", name, got, f)
		}
	}
	if len(r.values) != len(want) {
		return fmt.Sprintf("%d lines printed for %d leaves", len(r.values), len(want))
	}
	return ""
}

// compare checks plugintest.Flatten against the real plugin on one
// document. Where Flatten reports no error, the plugin prints exactly
// Flatten's names with the same values; wherever the plugin panics or
// loses a leaf, Flatten reports an error; and Flatten reports one on a
// document the plugin reads whole only if it holds an array, which the
// /stats contract forbids even where the plugin would lose nothing.
func compare(t *testing.T, p *realPlugin, prefix string, body []byte) {
	t.Helper()
	hand, handErr := plugintest.Flatten(prefix, body)
	actual := p.read(t, prefix, body)
	doc, leafErr := readDocument(prefix, body)
	if leafErr != nil {
		if handErr == nil || actual.err == nil && actual.panicked == nil {
			t.Fatalf("invalid JSON %q (%v): Flatten error %v, plugin error %v, panic %v", body, leafErr, handErr, actual.err, actual.panicked)
		}
		return
	}
	lost := loss(actual, doc)
	if handErr == nil {
		if lost != "" {
			t.Fatalf("%q: %s, yet Flatten reports no error", body, lost)
		}
		if got := printed(hand); !maps.Equal(got, actual.lines) {
			t.Fatalf("%q: Flatten prints\n%s\nthe plugin prints\n%s", body, sortedLines(got), sortedLines(actual.lines))
		}
		return
	}
	if lost == "" && !doc.arrays {
		t.Fatalf("%q: the plugin reads it whole, yet Flatten reports %v", body, handErr)
	}
}

func sortedLines(m map[string]string) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, k+"\t"+v)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// goldenDir holds the exporter's golden documents and the lines the plugin
// is expected to print of them.
const goldenDir = "../../../exporter/testdata"

// goldenPrefix is the -prefix exporter/golden_test.go renders the
// .plugin.txt files with.
const goldenPrefix = "app"

func goldenDocs(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no golden documents in %s (%v)", goldenDir, err)
	}
	docs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		docs[strings.TrimSuffix(filepath.Base(f), ".json")] = b
	}
	return docs
}

// handSeeds are the plugin's corner cases, each once.
var handSeeds = []string{
	`{"a":{"b":1,"c":2.5}}`,
	`{}`,
	`{"xs":[{"n":1}]}`,
	`[{"n":1},{"n":2}]`,
	`{"xs":[1,2]}`,
	`{"xs":[null]}`,
	`null`,
	`5`,
	`"s"`,
	`{"s":"123","b":true,"z":null,"n":1}`,
	`{"a.b":1,"a":{"b":2}}`,
	`{"a":1,"a":2}`,
	`{"a":{"":1}}`,
	`{"a":[[1]]}`,
	`{"a":1e400}`,
	`{"a":`,
}

// TestFlattenAgainstThePlugin runs the hand copy and the real library over
// the golden documents and the corner cases.
func TestFlattenAgainstThePlugin(t *testing.T) {
	p := newRealPlugin(t)
	for name, body := range goldenDocs(t) {
		t.Run(name, func(t *testing.T) { compare(t, p, goldenPrefix, body) })
	}
	for _, body := range handSeeds {
		t.Run(body, func(t *testing.T) { compare(t, p, "p", []byte(body)) })
	}
}

// TestGoldenPluginLines checks each exporter/testdata/<case>.plugin.txt,
// which plugintest.Flatten writes, against what the real plugin prints of
// <case>.json, the epoch aside.
func TestGoldenPluginLines(t *testing.T) {
	p := newRealPlugin(t)
	for name, body := range goldenDocs(t) {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(goldenDir, name+".plugin.txt"))
			if errors.Is(err, os.ErrNotExist) {
				t.Skip("no .plugin.txt beside it")
			}
			if err != nil {
				t.Fatal(err)
			}
			wantLines := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
				if line == "" {
					continue
				}
				f := strings.Split(line, "\t")
				if len(f) != 3 {
					t.Fatalf("%s.plugin.txt: %q is not name\\tvalue\\tepoch", name, line)
				}
				wantLines[f[0]] = f[1]
			}
			r := p.read(t, goldenPrefix, body)
			if r.err != nil || r.panicked != nil {
				t.Fatalf("the plugin fails on %s.json: %v %v", name, r.err, r.panicked)
			}
			if !maps.Equal(r.lines, wantLines) {
				t.Errorf("%s.plugin.txt says\n%s\nthe plugin prints\n%s", name, sortedLines(wantLines), sortedLines(r.lines))
			}
		})
	}
}

// TestClosedGaps: the documents the real plugin loses something of that
// plugintest.Flatten once passed without a word, and now reports.
func TestClosedGaps(t *testing.T) {
	p := newRealPlugin(t)
	for _, body := range []string{`5`, `{"a":1,"a":2}`} {
		doc, err := readDocument("p", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if loss(p.read(t, "p", []byte(body)), doc) == "" {
			t.Errorf("%s: the real plugin no longer loses anything of it", body)
		}
		if _, err := plugintest.Flatten("p", []byte(body)); err == nil {
			t.Errorf("%s: plugintest.Flatten reports nothing", body)
		}
	}
}

// TestEmptyPrefix records where Flatten departs from the plugin on
// purpose: with no prefix Flatten names leaves from their first key, the
// plugin (-prefix=) from an empty element, so with a leading dot.
func TestEmptyPrefix(t *testing.T) {
	p := newRealPlugin(t)
	body := []byte(`{"a":{"b":1}}`)
	hand, err := plugintest.Flatten("", body)
	if err != nil || !slices.Equal(slices.Sorted(maps.Keys(hand)), []string{"a.b"}) {
		t.Errorf("Flatten(\"\") = %v, %v; want a.b", hand, err)
	}
	if got := slices.Sorted(maps.Keys(p.read(t, "", body).values)); !slices.Equal(got, []string{".a.b"}) {
		t.Errorf("the plugin with -prefix= prints %v; want .a.b", got)
	}
}

// FuzzFlattenAgainstThePlugin: any document, any non-empty prefix.
func FuzzFlattenAgainstThePlugin(f *testing.F) {
	for _, body := range goldenDocs(f) {
		f.Add(goldenPrefix, body)
	}
	for _, body := range handSeeds {
		f.Add("p", []byte(body))
	}
	p := newRealPlugin(f)
	f.Fuzz(func(t *testing.T, prefix string, body []byte) {
		if prefix == "" {
			t.Skip("the empty prefix differs on purpose (TestEmptyPrefix)")
		}
		compare(t, p, prefix, body)
	})
}
