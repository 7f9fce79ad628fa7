package forward

import (
	"os"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.uber.org/goleak"
)

// otelErrors records what reaches otel.Handle. The handler is process-wide,
// so it is installed once here and tests read it (none run in parallel).
var otelErrors errorRecorder

type errorRecorder struct {
	mu   sync.Mutex
	errs []error
}

func (r *errorRecorder) Handle(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *errorRecorder) all() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

func TestMain(m *testing.M) {
	// The official exporters and the SDK also read the process environment;
	// the tests describe theirs with maps, so nothing from outside may mix in.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OTEL_") || strings.HasPrefix(k, "MACKEREL_") {
			_ = os.Unsetenv(k)
		}
	}
	otel.SetErrorHandler(&otelErrors)
	goleak.VerifyTestMain(m)
}
