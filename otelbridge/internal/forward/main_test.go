package forward

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The exporters and the reader read the process environment; each test
	// sets its own with t.Setenv, so nothing from outside may mix in.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OTEL_") || strings.HasPrefix(k, "MACKEREL_") {
			_ = os.Unsetenv(k)
		}
	}
	// No otel.SetErrorHandler: an error reaching otel.Handle must show, as
	// it would in an app, through the standard log.
	goleak.VerifyTestMain(m)
}
