// Package otlptest runs real OTLP metrics collectors on loopback, over gRPC
// and over HTTP (protobuf), that record every request they are sent, for the
// tests of the packages that export to one.
package otlptest

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/proto"

	"github.com/komachi-go/komachi/internal/testutil"
)

// Options say how a collector listens and answers; the zero value is a
// plaintext collector on a free port of 127.0.0.1.
type Options struct {
	// Addr is where to listen, to come back on the port of a collector
	// that was stopped; "" is any free port on 127.0.0.1.
	Addr string
	// Cert, when not nil, makes the collector speak TLS with it.
	Cert *tls.Certificate
	// EchoHeaders makes the HTTP collector answer every request 400 with
	// the request's headers in the body, as a careless proxy might. The
	// gRPC collector ignores it.
	EchoHeaders bool
}

// Request is one export request as a collector saw it.
type Request struct {
	// Body is the request, decoded.
	Body *colmetricpb.ExportMetricsServiceRequest
	// Header has lower-case names: the gRPC metadata, or the HTTP headers
	// and ":path" for the URL's path.
	Header map[string][]string
	// Compression is the request's as the transport saw it (the gRPC
	// encoding or the HTTP Content-Encoding): "gzip" or "".
	Compression string
	// Size is proto.Size of Body.
	Size int
}

// Get returns the values of the header name (lower case), joined by
// commas.
func (r Request) Get(name string) string {
	return strings.Join(r.Header[name], ",")
}

// Collector is a running collector. Its Notifier reports every request.
type Collector struct {
	testutil.Notifier
	// Addr is the host:port it listens on.
	Addr string

	stop func()
	mu   sync.Mutex
	reqs []Request
}

// Requests returns the requests received so far, in order.
func (c *Collector) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.reqs...)
}

// Stop closes the listener and every connection, as a collector that went
// down; the test's cleanup calls it too.
func (c *Collector) Stop() { c.stop() }

func (c *Collector) add(r Request) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.mu.Unlock()
	c.Notify()
}

func listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	return lis
}

// StartGRPC starts an OTLP/gRPC metrics collector. Its default 4 MiB
// receive limit is the one Mackerel's endpoint enforces.
func StartGRPC(t testing.TB, opts Options) *Collector {
	t.Helper()
	lis := listen(t, opts.Addr)
	sopts := []grpc.ServerOption{grpc.StatsHandler(statsHandler{})}
	if opts.Cert != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewServerTLSFromCert(opts.Cert)))
	}
	srv := grpc.NewServer(sopts...)
	c := &Collector{Addr: lis.Addr().String(), stop: srv.Stop}
	colmetricpb.RegisterMetricsServiceServer(srv, grpcService{c: c})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return c
}

type grpcService struct {
	colmetricpb.UnimplementedMetricsServiceServer
	c *Collector
}

func (s grpcService) Export(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r := Request{Body: req, Header: md.Copy(), Size: proto.Size(req)}
	if enc, ok := ctx.Value(encodingKey{}).(*string); ok {
		r.Compression = *enc
	}
	s.c.add(r)
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

type encodingKey struct{}

// statsHandler records the grpc-encoding of each call: the transport strips
// it from the metadata a service sees, and only a stats handler sees it.
type statsHandler struct{}

func (statsHandler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, encodingKey{}, new(string))
}

func (statsHandler) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok {
		if enc, ok := ctx.Value(encodingKey{}).(*string); ok {
			*enc = h.Compression
		}
	}
}

func (statsHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (statsHandler) HandleConn(context.Context, stats.ConnStats)                       {}

// StartHTTP starts an OTLP/HTTP (protobuf) metrics collector, answering on
// any path.
func StartHTTP(t testing.TB, opts Options) *Collector {
	t.Helper()
	c := &Collector{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.serveHTTP(w, r, opts.EchoHeaders)
	}))
	if opts.Addr != "" {
		_ = srv.Listener.Close()
		srv.Listener = listen(t, opts.Addr)
	}
	if opts.Cert != nil {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*opts.Cert}}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	c.Addr, c.stop = srv.Listener.Addr().String(), srv.Close
	t.Cleanup(srv.Close)
	return c
}

func (c *Collector) serveHTTP(w http.ResponseWriter, r *http.Request, echo bool) {
	if echo {
		var b strings.Builder
		for k, v := range r.Header {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(v, ","))
		}
		http.Error(w, b.String(), http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST application/x-protobuf", http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "bad gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	req := new(colmetricpb.ExportMetricsServiceRequest)
	if err := proto.Unmarshal(b, req); err != nil {
		http.Error(w, "bad protobuf: "+err.Error(), http.StatusBadRequest)
		return
	}
	h := make(map[string][]string, len(r.Header)+1)
	for k, v := range r.Header {
		h[strings.ToLower(k)] = v
	}
	h[":path"] = []string{r.URL.Path}
	c.add(Request{Body: req, Header: h, Compression: r.Header.Get("Content-Encoding"), Size: proto.Size(req)})
	resp, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// Metrics yields every metric of reqs, in order.
func Metrics(reqs []Request) iter.Seq[*metricpb.Metric] {
	return func(yield func(*metricpb.Metric) bool) {
		for _, r := range reqs {
			for _, rm := range r.Body.GetResourceMetrics() {
				for _, sm := range rm.GetScopeMetrics() {
					for _, m := range sm.GetMetrics() {
						if !yield(m) {
							return
						}
					}
				}
			}
		}
	}
}

// MetricNames returns the names of the metrics in reqs, sorted, each once.
func MetricNames(reqs []Request) []string {
	seen := map[string]bool{}
	for m := range Metrics(reqs) {
		seen[m.GetName()] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SumPoints returns the data points of the Sums named name across reqs.
func SumPoints(reqs []Request, name string) []*metricpb.NumberDataPoint {
	var out []*metricpb.NumberDataPoint
	for m := range Metrics(reqs) {
		if m.GetName() == name {
			out = append(out, m.GetSum().GetDataPoints()...)
		}
	}
	return out
}
