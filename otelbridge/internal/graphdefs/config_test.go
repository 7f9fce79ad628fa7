package graphdefs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
)

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestFromEnv(t *testing.T) {
	def := Config{APIKey: testKey, APIBase: DefaultAPIBase, Prefix: DefaultPrefix}
	f := func(name string, env map[string]string, want Config, wantOn bool) {
		t.Helper()
		got, on, err := FromEnv(lookupIn(env))
		if err != nil || on != wantOn || got != want {
			t.Errorf("%s: FromEnv = %+v, %t, %v; want %+v, %t", name, got, on, err, want, wantOn)
		}
	}
	off := Config{APIBase: DefaultAPIBase, Prefix: DefaultPrefix}
	f("nothing set", nil, off, false)
	f("empty key", map[string]string{EnvAPIKey: ""}, off, false)
	f("no key, the API base ignored", map[string]string{EnvAPIBase: "ftp://x"}, off, false)
	// /stats/graphs names its graphs with the prefix, posted or not.
	f("no key, the prefix kept", map[string]string{EnvPrefix: "basic"}, Config{APIBase: DefaultAPIBase, Prefix: "basic"}, false)
	f("key", map[string]string{EnvAPIKey: testKey}, def, true)
	f("alternative key", map[string]string{EnvAPIKeyAlt: testKey}, def, true)
	f("both keys, equal", map[string]string{EnvAPIKey: testKey, EnvAPIKeyAlt: testKey}, def, true)
	for _, v := range []string{"", "on", "ON", "true", "1", " on "} {
		f("switch "+v, map[string]string{EnvAPIKey: testKey, EnvGraphDefs: v}, def, true)
	}
	for _, v := range []string{"off", "OFF", "false", "0", " off\n"} {
		f("switch "+v, map[string]string{EnvAPIKey: testKey, EnvGraphDefs: v}, off, false)
	}
	f("apibase", map[string]string{EnvAPIKey: testKey, EnvAPIBase: "http://127.0.0.1:8080"},
		Config{APIKey: testKey, APIBase: "http://127.0.0.1:8080/", Prefix: DefaultPrefix}, true)
	f("apibase with slash, upper-case scheme", map[string]string{EnvAPIKey: testKey, EnvAPIBase: "HTTPS://api.mackerelio.com/"}, def, true)
	f("prefix", map[string]string{EnvAPIKey: testKey, EnvPrefix: "my-app.web_1"},
		Config{APIKey: testKey, APIBase: DefaultAPIBase, Prefix: "my-app.web_1"}, true)
	f("prefix customer", map[string]string{EnvAPIKey: testKey, EnvPrefix: "customer"},
		Config{APIKey: testKey, APIBase: DefaultAPIBase, Prefix: "customer"}, true)
}

func TestFromEnvErrors(t *testing.T) {
	f := func(env map[string]string, wantVar string, secret string) {
		t.Helper()
		env[EnvAPIKey] = cmpOr(env[EnvAPIKey], testKey)
		_, on, err := FromEnv(lookupIn(env))
		if err == nil || on {
			t.Errorf("%v: FromEnv = %t, %v; want an error", env, on, err)
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "graphdefs: ") || !strings.Contains(msg, wantVar) {
			t.Errorf("%v: %q does not name %s", env, msg, wantVar)
		}
		assertNoKey(t, "the error", msg)
		if secret != "" && strings.Contains(msg, secret) {
			t.Errorf("%q echoes the value %q", msg, secret)
		}
	}
	f(map[string]string{EnvGraphDefs: "maybe"}, EnvGraphDefs, "maybe")
	f(map[string]string{EnvGraphDefs: "maybe", EnvAPIKey: ""}, EnvGraphDefs, "maybe")
	f(map[string]string{EnvAPIKeyAlt: "another-key-value"}, EnvAPIKeyAlt, "another-key-value")
	f(map[string]string{EnvAPIKey: testKey + "\n"}, EnvAPIKey, "")
	f(map[string]string{EnvAPIKeyAlt: "bad key value", EnvAPIKey: ""}, EnvAPIKeyAlt, "bad key value")
	for _, base := range []string{
		"ftp://mackerel.example", "mackerel.example", "https://", "https://user:hunter22@mackerel.example/",
		"https://mackerel.example/api/", "https://mackerel.example/?q=1", "https://mackerel.example/#top", "http://[::1", "https://mackerel.example/?",
	} {
		f(map[string]string{EnvAPIBase: base}, EnvAPIBase, base)
	}
	for _, prefix := range []string{"custom", "custom.app", "a..b", ".a", "a.", "a b", "a/b", "a*", "日本"} {
		echo := prefix
		if prefix == "custom" {
			echo = "" // the message explains custom.custom
		}
		f(map[string]string{EnvPrefix: prefix}, EnvPrefix, echo)
	}

	_, _, err := FromEnv(lookupIn(map[string]string{EnvAPIKey: "x\x00y"}))
	if !errors.Is(err, ErrInvalidAPIKey) {
		t.Errorf("bad key: %v, want ErrInvalidAPIKey", err)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Every way of printing a Config hides the key.
func TestConfigNeverPrintsTheKey(t *testing.T) {
	cfg := testConfig("https://api.mackerelio.com/")
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v %s\n", cfg, cfg, cfg, cfg)
	slog.New(slog.NewTextHandler(&out, nil)).Info("cfg", "cfg", cfg)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("cfg", "cfg", cfg)
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(js)
	assertNoKey(t, "printed Config", out.String())
	if !strings.Contains(out.String(), "[REDACTED]") {
		t.Errorf("no [REDACTED] in %s", out.String())
	}

	p, err := New(cfg, (&testSource{}).get)
	if err != nil {
		t.Fatal(err)
	}
	assertNoKey(t, "printed Poster", fmt.Sprintf("%v %+v %#v", p, p, p))
}

func TestNewChecksItsArguments(t *testing.T) {
	src := (&testSource{}).get
	f := func(name string, cfg Config, source func() ([]Graph, uint64), want string, opts ...Option) {
		t.Helper()
		_, err := New(cfg, source, opts...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: New: %v, want an error with %q", name, err, want)
		}
		if err != nil {
			assertNoKey(t, name, err.Error())
		}
	}
	f("no key", Config{}, src, "Config.APIKey")
	f("bad key", Config{APIKey: testKey + " "}, src, "Config.APIKey")
	f("bad base", Config{APIKey: testKey, APIBase: "https://x/path"}, src, "Config.APIBase")
	f("bad prefix", Config{APIKey: testKey, Prefix: "custom"}, src, "Config.Prefix")
	f("nil source", testConfig(""), nil, "nil source")
	f("zero interval", testConfig(""), src, "WithInterval(0s)", WithInterval(0))
	f("negative interval", testConfig(""), src, "must be positive", WithInterval(-time.Second))

	if _, err := New(Config{APIKey: testKey}, src, nil, WithLogger(nil), WithHTTPClient(nil)); err != nil {
		t.Errorf("zero Config fields and nil options: %v", err)
	}
}

// Whatever KOMACHI_MACKEREL_PREFIX holds, an accepted prefix gives names
// Mackerel accepts and no custom.custom, and an error never echoes it.
func FuzzPrefix(f *testing.F) {
	for _, s := range []string{"app", "my-app.web_1", "custom", "custom.x", "customer", "a..b", "a b", "*", "#", ""} {
		f.Add(s)
	}
	name := regexp.MustCompile(`^custom(\.[-a-zA-Z0-9_]+)+$`)
	// Every message is fixed text and a position: none can echo the value.
	prefixError := regexp.MustCompile(`^graphdefs: KOMACHI_MACKEREL_PREFIX: (element \d+ is empty: want elements of \[-a-zA-Z0-9_\] joined by dots|element \d+ has a character outside \[-a-zA-Z0-9_\]|must not start with custom: the agent adds custom\. itself, and names would become custom\.custom\.\*)$`)
	f.Fuzz(func(t *testing.T, prefix string) {
		cfg, on, err := FromEnv(lookupIn(map[string]string{EnvAPIKey: testKey, EnvPrefix: prefix}))
		if err != nil {
			if !prefixError.MatchString(err.Error()) {
				t.Errorf("error %q is not one of the fixed messages (it may echo the value)", err)
			}
			return
		}
		if !on {
			t.Fatal("off with a key set")
		}
		full := "custom." + cfg.Prefix + ".go"
		if !name.MatchString(full) || strings.HasPrefix(full, "custom.custom.") {
			t.Errorf("prefix %q accepted, gives %q", prefix, full)
		}
		if prefix != "" && cfg.Prefix != prefix {
			t.Errorf("prefix %q became %q", prefix, cfg.Prefix)
		}
	})
}
