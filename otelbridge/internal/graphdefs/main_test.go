package graphdefs

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The tests describe their environment with maps; nothing from the
	// machine's may mix in (net/http reads proxy variables, for one).
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MACKEREL_") || strings.HasPrefix(k, "KOMACHI_") || strings.HasSuffix(strings.ToUpper(k), "_PROXY") {
			_ = os.Unsetenv(k)
		}
	}
	goleak.VerifyTestMain(m)
}
