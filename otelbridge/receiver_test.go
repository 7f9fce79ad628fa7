package otelbridge

import (
	"context"
	"net"
	"sync"
	"testing"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
)

// receiver is a real OTLP metrics gRPC service on loopback that records what
// it is sent: the metric names and the request metadata.
type receiver struct {
	colmetricpb.UnimplementedMetricsServiceServer
	addr string

	mu       sync.Mutex
	names    map[string]int
	metadata []metadata.MD
	encoding []string // grpc-encoding of each request, as the transport saw it
	arrived  chan struct{}
}

// TagRPC, HandleRPC, TagConn and HandleConn make the receiver a gRPC stats
// handler: the transport strips grpc-encoding from the metadata a service
// sees, and only here does the request's compression show.
func (r *receiver) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (r *receiver) HandleRPC(_ context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok {
		r.mu.Lock()
		r.encoding = append(r.encoding, h.Compression)
		r.mu.Unlock()
	}
}

func (r *receiver) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (r *receiver) HandleConn(context.Context, stats.ConnStats) {}

func (r *receiver) encodings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.encoding...)
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{addr: lis.Addr().String(), names: map[string]int{}, arrived: make(chan struct{}, 1)}
	srv := grpc.NewServer(grpc.StatsHandler(r))
	colmetricpb.RegisterMetricsServiceServer(srv, r)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return r
}

func (r *receiver) Export(ctx context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	r.metadata = append(r.metadata, md.Copy())
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				r.names[m.GetName()]++
			}
		}
	}
	r.mu.Unlock()
	select {
	case r.arrived <- struct{}{}:
	default:
	}
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func (r *receiver) seen(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.names[name]
}

func (r *receiver) allMetadata() []metadata.MD {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]metadata.MD(nil), r.metadata...)
}
