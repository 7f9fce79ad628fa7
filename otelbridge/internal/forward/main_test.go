package forward

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/komachi-go/komachi/internal/testutil"
)

func TestMain(m *testing.M) {
	// The exporters and the reader read the process environment.
	testutil.ClearEnv()
	// No otel.SetErrorHandler: an error reaching otel.Handle must show, as
	// it would in an app, through the standard log.
	goleak.VerifyTestMain(m)
}

// setEnv sets the process environment for one test: the exporters and the
// reader read it themselves.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// mapEnv is a lookup over a map, for fromEnv.
func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}
