package testutil

import "net/http"

// basicTraffic is one round of mixed traffic for examples/basic: a greeting
// in each language, a 404, a 405 and the root, so that every attribute the
// example keeps on its HTTP and app metrics takes more than one value.
var basicTraffic = []struct {
	method, path string
	code         int
}{
	{http.MethodGet, "/hello?name=x", http.StatusOK},
	{http.MethodGet, "/hello?lang=ja", http.StatusOK},
	{http.MethodGet, "/nope/1", http.StatusNotFound},
	{http.MethodPost, "/hello", http.StatusMethodNotAllowed},
	{http.MethodGet, "/", http.StatusOK},
}

// BasicTraffic sends examples/basic's mixed traffic twice, a window apart,
// and returns once the window of the second round has closed: /ops/stats
// then serves a window that saw traffic, with every series the traffic
// makes. The test fails if a request answers an unexpected status.
func (e *Example) BasicTraffic() {
	e.t.Helper()
	round := func() {
		for _, r := range basicTraffic {
			if code, body := e.Do(r.method, r.path); code != r.code {
				e.t.Fatalf("%s %s = %d %s, want %d", r.method, r.path, code, body, r.code)
			}
		}
	}
	round()
	closed := e.NextStats(e.Stats())
	round()
	e.NextStats(closed)
}
