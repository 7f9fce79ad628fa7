package mackerelkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testKey = "k3y-0f-the-test-AbCdEf"

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// Every way of printing a Secret, alone or inside a value, shows
// [REDACTED] and never the key.
func TestSecretNeverPrintsItself(t *testing.T) {
	s := Secret(testKey)
	holder := struct {
		Key  Secret
		Keys map[string]Secret
	}{s, map[string]Secret{"h": s}}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%T"} {
		for _, arg := range []any{s, &s, holder, []Secret{s}} {
			p := fmt.Sprintf(verb, arg)
			if strings.Contains(p, testKey) {
				t.Errorf("%s of %T prints the key: %s", verb, arg, p)
			}
			out.WriteString(p)
		}
	}
	fmt.Fprint(&out, s)
	fmt.Fprintln(&out, s, holder)
	slog.New(slog.NewTextHandler(&out, nil)).Info("k", "key", s, "holder", holder)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("k", "key", s, "holder", holder)
	js, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(js)
	if strings.Contains(out.String(), testKey) {
		t.Errorf("key printed: %s", out.String())
	}
	if !strings.Contains(out.String(), Redacted) {
		t.Errorf("no %s in %s", Redacted, out.String())
	}
	if string(s) != testKey {
		t.Error("string(s) must give the key back")
	}
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		key      Secret
		fromName string
	}{
		{"nothing set", nil, "", ""},
		{"empty values are unset", map[string]string{EnvName: "", EnvNameAlt: ""}, "", ""},
		{"first name", map[string]string{EnvName: testKey}, testKey, EnvName},
		{"alternative name", map[string]string{EnvNameAlt: testKey}, testKey, EnvNameAlt},
		{"alternative, first empty", map[string]string{EnvName: "", EnvNameAlt: testKey}, testKey, EnvNameAlt},
		{"both, equal", map[string]string{EnvName: testKey, EnvNameAlt: testKey}, testKey, EnvName},
	} {
		key, name, err := FromEnv(lookupIn(tc.env))
		if err != nil || key != tc.key || name != tc.fromName {
			t.Errorf("%s: FromEnv = %q, %q, %v; want %q, %q", tc.name, string(key), name, err, string(tc.key), tc.fromName)
		}
	}
}

func TestFromEnvErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantVar string
		secrets []string // none may appear in the error
	}{
		{"both set, differ", map[string]string{EnvName: testKey, EnvNameAlt: "other-key-123456"}, EnvNameAlt, []string{testKey, "other-key-123456"}},
		{"space", map[string]string{EnvName: "abc def-" + testKey}, EnvName, []string{"abc", "def-" + testKey}},
		{"trailing newline", map[string]string{EnvName: testKey + "\n"}, EnvName, []string{testKey}},
		{"tab, alternative", map[string]string{EnvNameAlt: "\t" + testKey}, EnvNameAlt, []string{testKey}},
		{"NUL", map[string]string{EnvName: "ab\x00" + testKey}, EnvName, []string{testKey}},
		{"non-ASCII", map[string]string{EnvName: testKey + "é"}, EnvName, []string{testKey}},
		{"DEL", map[string]string{EnvNameAlt: testKey + "\x7f"}, EnvNameAlt, []string{testKey}},
	} {
		key, name, err := FromEnv(lookupIn(tc.env))
		if err == nil || key != "" || name != "" {
			t.Errorf("%s: FromEnv = %q, %q, %v; want an error", tc.name, string(key), name, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.wantVar) {
			t.Errorf("%s: %q does not name %s", tc.name, msg, tc.wantVar)
		}
		for _, s := range tc.secrets {
			if strings.Contains(msg, s) {
				t.Errorf("%s: %q echoes %q", tc.name, msg, s)
			}
		}
		if tc.name != "both set, differ" && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v does not wrap ErrInvalid", tc.name, err)
		}
	}
}

func TestCheckTellsThePosition(t *testing.T) {
	if err := Check(testKey); err != nil {
		t.Errorf("Check(valid) = %v", err)
	}
	err := Check("abc\n")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "position 4 of 4") {
		t.Errorf("Check(abc\\n) = %v, want ErrInvalid at position 4 of 4", err)
	}
}

// Whatever the variable holds, an error never holds it: only fixed text
// and numbers.
func FuzzFromEnvNeverEchoes(f *testing.F) {
	for _, s := range []string{testKey, testKey + "\n", "a b", "é", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		key, _, err := FromEnv(lookupIn(map[string]string{EnvName: v}))
		if err == nil {
			if string(key) != v {
				t.Errorf("FromEnv(%q) = %q", v, string(key))
			}
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, EnvName+": "+ErrInvalid.Error()+" (bad byte at position ") {
			t.Errorf("error %q is not the fixed message (it may echo the value)", msg)
		}
	})
}
