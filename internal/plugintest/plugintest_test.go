package plugintest

import (
	"reflect"
	"strings"
	"testing"
)

func TestFlatten(t *testing.T) {
	f := func(body string, want map[string]float64, wantErr string) {
		t.Helper()
		got, err := Flatten("p", []byte(body))
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("Flatten(%s) error = %v, want %q", body, err, wantErr)
		}
		if want != nil && !reflect.DeepEqual(got, want) {
			t.Errorf("Flatten(%s) = %v, want %v", body, got, want)
		}
	}
	f(`{"a":{"b":1,"c":2.5}}`, map[string]float64{"p.a.b": 1, "p.a.c": 2.5}, "")
	f(`{}`, map[string]float64{}, "")
	// The plugin names array elements by index and drops the array's key.
	f(`{"xs":[{"n":1}]}`, map[string]float64{"p.0.n": 1}, "array at p.xs")
	f(`{"xs":[null]}`, nil, "the plugin panics")
	f(`null`, nil, "top-level null")
	f(`{"s":"123","b":true,"z":null,"n":1}`, map[string]float64{"p.n": 1}, "dropped by the plugin")
	f(`{"a":`, nil, "invalid JSON")
	// What the real plugin loses: a number at the top (it prints nothing),
	// and the first of two values under one key (encoding/json keeps the
	// last).
	f(`5`, nil, "at the top: the plugin prints nothing")
	f(`{"a":1,"a":2}`, nil, `key "a" given twice`)
	f(`{"o":{"a":1},"p":{"a":2},"v":"a"}`, nil, "dropped by the plugin") // one key in two objects, and a value: no repeat
	if got, _ := Flatten("", []byte(`{"a":{"b":1}}`)); got["a.b"] != 1 {
		t.Errorf("no prefix: %v", got)
	}
	for name, want := range map[string]bool{"a.b-c_d": true, "a..b": false, "a b": false, ".a": false, "": false} {
		if ValidName(name) != want {
			t.Errorf("ValidName(%q) = %v", name, !want)
		}
	}
}
