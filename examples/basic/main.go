// Command basic is a small HTTP service watched from Mackerel through
// komachi: the Go runtime, host and HTTP metrics at /ops/stats for
// mackerel-plugin-json, and /ops/heartbeat for the readiness probes.
//
//	go run ./examples/basic            # listens on :4000
//	curl localhost:4000/ops/heartbeat  # heartbeat:ok
//	curl localhost:4000/ops/stats      # the metrics, as nested JSON
//
// Flags: -addr (default :4000, or :$PORT when PORT is set) and -drain (how
// long readiness answers 503 before the server stops, so a load balancer or
// Kubernetes stops routing first). The environment variables of the
// otelbridge package apply: KOMACHI_STATS_WINDOW, OTEL_SERVICE_NAME,
// OTEL_EXPORTER_OTLP_ENDPOINT, MACKEREL_APIKEY, …
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/komachi-go/komachi/heartbeat"
	"github.com/komachi-go/komachi/otelbridge"
)

// maxGoroutines is where the example's vital calls the process unhealthy: a
// goroutine leak is the Go cousin of the seed library's process count alarm.
const maxGoroutines = 10000

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	addr := flag.String("addr", defaultAddr(), "address to listen on (default :4000, or :$PORT when PORT is set)")
	drain := flag.Duration("drain", 5*time.Second, "how long readiness answers 503 before the server stops; a second signal skips the wait")
	flag.Parse()
	if err := run(logger, *addr, *drain); err != nil {
		logger.Error("basic: " + err.Error())
		os.Exit(1)
	}
}

func defaultAddr() string {
	if port := os.Getenv("PORT"); port != "" {
		return ":" + port
	}
	return ":4000"
}

func run(logger *slog.Logger, addr string, drain time.Duration) error {
	if _, port, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil && port != "" {
		return fmt.Errorf("-addr %q (or PORT): the port is not a number", addr)
	}
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)

	// mackerel-plugin-json's -prefix, which the graph definitions must name
	// too: the service's name. ("app", the library's default, would double
	// the app.* instruments below into app.app.greetings.)
	prefix := cmp.Or(os.Getenv("KOMACHI_MACKEREL_PREFIX"), "basic")

	ctx := context.Background()
	bridge, err := otelbridge.Start(ctx,
		otelbridge.WithLogger(logger),
		otelbridge.WithMackerelPrefix(prefix),
		// Each attribute value becomes part of a Mackerel metric name: keep
		// the ones worth a line on a graph. otelhttp also records the
		// protocol, the server address and port, and the scheme.
		otelbridge.WithMeterProviderOptions(sdkmetric.WithView(sdkmetric.NewView(
			sdkmetric.Instrument{Name: "http.server.*"},
			sdkmetric.Stream{AttributeFilter: attribute.NewAllowKeysFilter(
				"http.request.method", "http.route", "http.response.status_code")},
		))),
		otelbridge.WithVitals(heartbeat.VitalFunc("goroutines", func(context.Context) error {
			if n := runtime.NumGoroutine(); n > maxGoroutines {
				return fmt.Errorf("%d goroutines, more than %d: a leak?", n, maxGoroutines)
			}
			return nil
		})),
	)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := bridge.Shutdown(ctx); err != nil {
			logger.Error("basic: " + err.Error())
		}
	}()

	mp := bridge.MeterProvider()
	greetings, err := mp.Meter("github.com/komachi-go/komachi/examples/basic").Int64Counter("app.greetings",
		metric.WithUnit("{greeting}"), metric.WithDescription("Greetings served, by language."))
	if err != nil {
		return err
	}

	app := http.NewServeMux()
	app.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "komachi example: try /hello?name=you, /ops/heartbeat and /ops/stats\n")
	})
	app.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		name, lang := r.URL.Query().Get("name"), r.URL.Query().Get("lang")
		if name == "" {
			name = "world"
		}
		greeting := "Hello"
		if lang == "ja" {
			greeting = "こんにちは"
		} else {
			lang = "en"
		}
		greetings.Add(r.Context(), 1, metric.WithAttributes(attribute.String("app.language", lang)))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintf(w, "%s, %s!\n", greeting, name)
	})

	root := http.NewServeMux()
	// The ops endpoints stay outside otelhttp: probes every few seconds
	// would drown the app's own request metrics.
	root.Handle("/ops/", http.StripPrefix("/ops", bridge.Handler()))
	root.Handle("/", otelhttp.NewHandler(app, "http.server", otelhttp.WithMeterProvider(mp)))

	srv := &http.Server{
		Handler:           root,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + displayAddr(lis.Addr())
	fmt.Fprintf(os.Stderr, `komachi example listening on %[1]s
  the page   %[1]s/ops/            (the graphs Mackerel will draw)
  readiness  %[1]s/ops/heartbeat   (verbose: %[1]s/ops/heartbeat?verbose)
  liveness   %[1]s/ops/livez
  metrics    %[1]s/ops/stats       (graph definitions: %[1]s/ops/stats/graphs)
  the app    %[1]s/hello?name=you
  Mackerel:  mackerel-plugin-json -url=%[1]s/ops/stats -prefix=%[2]s
`, base, prefix)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	select {
	case err := <-served:
		return err
	case sig := <-signals:
		logger.Info("basic: draining: readiness answers 503", "signal", sig.String(), "wait", drain)
	}
	bridge.Drain()
	select {
	case <-time.After(drain):
	case <-signals:
		logger.Info("basic: second signal: stopping now")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("stopping the server: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("basic: stopped")
	return nil
}

// displayAddr turns a listener address into one a person can paste: the
// unspecified address becomes localhost.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
