// Command serve is one contender's server process for the load benchmark:
// the harness's process set-up (the same for every contender) with one
// contender mounted on a loopback listener, and the process's usage on a
// second loopback listener.
//
//	serve -contender=stats|prom|expvar|ceiling -series=1000
//
// It prints one JSON line to stdout, {"url": …, "usage": …, "doc_bytes": …,
// "gzip_bytes": …}, then serves until its stdin closes or it gets SIGINT or
// SIGTERM. The load command starts it; it is not meant to be run by hand.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/komachi-go/komachi/benchmarks/internal/harness"
)

func main() {
	contender := flag.String("contender", harness.Stats, "stats, prom, expvar or ceiling")
	series := flag.Int("series", 1000, "synthetic series on top of the runtime and host instruments")
	window := flag.Duration("window", 0, "the /stats window (0: otelbridge's default, 60s)")
	flag.Parse()
	if err := run(*contender, *series, *window); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}

func run(contender string, series int, window time.Duration) error {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "MACKEREL_APIKEY", "MACKEREL_API_KEY"} {
		if os.Getenv(v) != "" {
			return fmt.Errorf("%s is set: unset it, the benchmark must not forward anything", v)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { // the load command closing our stdin (or dying) stops us
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()

	env, err := harness.NewEnv(ctx, harness.Config{Series: series, Window: window})
	if err != nil {
		return err
	}
	defer func() { _ = env.Shutdown(context.Background()) }()
	mux, err := env.Mux(contender)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	adm := &http.Server{Handler: harness.UsageHandler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(lis) }()
	go func() { errc <- adm.Serve(admin) }()

	body, gz := env.Stats.Exporter().Document()
	hello, _ := json.Marshal(map[string]any{
		"contender":  contender,
		"url":        "http://" + lis.Addr().String() + harness.Paths[contender],
		"usage":      "http://" + admin.Addr().String() + "/usage",
		"doc_bytes":  len(body),
		"gzip_bytes": len(gz),
	})
	fmt.Println(string(hello))

	select {
	case <-ctx.Done():
	case err = <-errc: // a listener failed
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(err, srv.Shutdown(sctx), adm.Shutdown(sctx))
}
