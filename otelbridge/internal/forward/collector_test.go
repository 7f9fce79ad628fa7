package forward

import (
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/proto"
)

// received is one request as a collector saw it.
type received struct {
	req         *colmetricpb.ExportMetricsServiceRequest
	header      map[string][]string // lower-case names
	compression string              // "gzip" or "" (gRPC encoding / HTTP Content-Encoding)
	size        int                 // proto.Size of the request
	wireSize    int                 // bytes on the wire, compressed
}

type recorder struct {
	notifier
	mu   sync.Mutex
	reqs []received
}

func (r *recorder) add(rc received) {
	r.mu.Lock()
	r.reqs = append(r.reqs, rc)
	r.mu.Unlock()
	r.notify()
}

func (r *recorder) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

// grpcCollector is a real OTLP/gRPC metrics receiver on loopback. Its
// default 4 MiB receive limit is the one Mackerel's endpoint enforces.
type grpcCollector struct {
	colmetricpb.UnimplementedMetricsServiceServer
	recorder
	srv  *grpc.Server
	addr string
}

type rpcInfoKey struct{}

type rpcInfo struct {
	compression      string
	length, wireSize int
}

// statsHandler records what the transport saw: the grpc-encoding of each
// call and the compressed payload size.
type statsHandler struct{}

func (statsHandler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, rpcInfoKey{}, &rpcInfo{})
}

func (statsHandler) HandleRPC(ctx context.Context, s stats.RPCStats) {
	info, _ := ctx.Value(rpcInfoKey{}).(*rpcInfo)
	if info == nil {
		return
	}
	switch s := s.(type) {
	case *stats.InHeader:
		info.compression = s.Compression
	case *stats.InPayload:
		info.length, info.wireSize = s.Length, s.CompressedLength
	}
}

func (statsHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (statsHandler) HandleConn(context.Context, stats.ConnStats)                       {}

// startGRPCCollector listens on addr ("127.0.0.1:0" for any port), with TLS
// when cert is not nil.
func startGRPCCollector(t *testing.T, addr string, cert *tls.Certificate) *grpcCollector {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	opts := []grpc.ServerOption{grpc.StatsHandler(statsHandler{})}
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewServerTLSFromCert(cert)))
	}
	c := &grpcCollector{srv: grpc.NewServer(opts...), addr: lis.Addr().String()}
	colmetricpb.RegisterMetricsServiceServer(c.srv, c)
	go func() { _ = c.srv.Serve(lis) }()
	t.Cleanup(c.srv.Stop)
	return c
}

func (c *grpcCollector) Export(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	rc := received{req: req, header: map[string][]string(md.Copy()), size: proto.Size(req)}
	if info, ok := ctx.Value(rpcInfoKey{}).(*rpcInfo); ok {
		rc.compression, rc.wireSize = info.compression, info.wireSize
	}
	c.add(rc)
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

// httpCollector is a real OTLP/HTTP (protobuf) receiver on loopback.
type httpCollector struct {
	recorder
	srv  *httptest.Server
	addr string
	// echo makes it answer 400 with the request headers in the body, as a
	// careless proxy might: secrets must not leak through the error.
	echo bool
}

func startHTTPCollector(t *testing.T, cert *tls.Certificate) *httpCollector {
	t.Helper()
	c := &httpCollector{}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(c.serve))
	// httptest binds 127.0.0.1:0.
	if cert != nil {
		c.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
		c.srv.StartTLS()
	} else {
		c.srv.Start()
	}
	c.addr = c.srv.Listener.Addr().String()
	t.Cleanup(c.srv.Close)
	return c
}

func (c *httpCollector) serve(w http.ResponseWriter, r *http.Request) {
	if c.echo {
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
	wire, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body := wire
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(strings.NewReader(string(wire)))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			http.Error(w, "bad gzip: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	req := new(colmetricpb.ExportMetricsServiceRequest)
	if err := proto.Unmarshal(body, req); err != nil {
		http.Error(w, "bad protobuf: "+err.Error(), http.StatusBadRequest)
		return
	}
	h := make(map[string][]string, len(r.Header))
	for k, v := range r.Header {
		h[strings.ToLower(k)] = v
	}
	h[":path"] = []string{r.URL.Path}
	c.add(received{req: req, header: h, compression: r.Header.Get("Content-Encoding"), size: proto.Size(req), wireSize: len(wire)})
	resp, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// testCert makes a self-signed ECDSA certificate for 127.0.0.1 and writes
// it as PEM, to be trusted through OTEL_EXPORTER_OTLP_CERTIFICATE.
func testCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "komachi test collector"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return pair, path
}

// notifier wakes whoever awaits a change; a single slot is enough, as the
// waiter checks its condition again after every wake-up.
type notifier struct {
	once sync.Once
	ch   chan struct{}
}

func (n *notifier) changed() chan struct{} {
	n.once.Do(func() { n.ch = make(chan struct{}, 1) })
	return n.ch
}

func (n *notifier) notify() {
	select {
	case n.changed() <- struct{}{}:
	default:
	}
}

// await checks cond after each change n reports, until it holds. The
// deadline only bounds a broken test; it asserts nothing about speed.
func await(t *testing.T, what string, n *notifier, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-n.changed():
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
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

// sumPoints returns the data points of the Sum named name across requests.
func sumPoints(reqs []received, name string) []*metricpb.NumberDataPoint {
	var out []*metricpb.NumberDataPoint
	for _, r := range reqs {
		for _, rm := range r.req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() == name {
						out = append(out, m.GetSum().GetDataPoints()...)
					}
				}
			}
		}
	}
	return out
}

func metricNames(reqs []received) []string {
	seen := map[string]bool{}
	for _, r := range reqs {
		for _, rm := range r.req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					seen[m.GetName()] = true
				}
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
