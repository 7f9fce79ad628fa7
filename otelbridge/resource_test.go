package otelbridge

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// Every malformed OTEL_RESOURCE_ATTRIBUTES entry fails at start, naming the
// variable and quoting none of it, and nothing reaches the standard log.
func TestResourceAttributesRefused(t *testing.T) {
	var stdlog bytes.Buffer
	out := log.Writer()
	log.SetOutput(&stdlog)
	t.Cleanup(func() { log.SetOutput(out) })

	const secret = "tok3n-s3cr3t"
	for _, attrs := range []string{
		"a=%zz",
		"a=" + secret + "%zz",
		"a=b,=" + secret,
		"a",
		secret,
		"a=b,",
		"a=b,,c=d",
		" = " + secret,
	} {
		t.Setenv(envResourceAttributes, attrs)
		res, err := detectResource(context.Background(), config{logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			t.Errorf("%q: accepted: %v", attrs, res)
			continue
		}
		if !strings.Contains(err.Error(), envResourceAttributes) {
			t.Errorf("%q: error %q does not name %s", attrs, err, envResourceAttributes)
		}
		if strings.Contains(err.Error(), secret) || (attrs != "a" && strings.Contains(err.Error(), attrs)) {
			t.Errorf("%q: error %q quotes the value", attrs, err)
		}
	}
	if stdlog.Len() > 0 {
		t.Errorf("the standard log got: %s", stdlog.String())
	}
}

func TestResourceAttributesRead(t *testing.T) {
	t.Setenv(envResourceAttributes, " deployment.environment.name = prod , team=ops%20team,empty=")
	t.Setenv("OTEL_SERVICE_NAME", "checkout")
	res, err := detectResource(context.Background(), config{logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[attribute.Key]string{
		"deployment.environment.name": "prod",
		"team":                        "ops team",
		"empty":                       "",
		"service.name":                "checkout",
	} {
		if v, ok := res.Set().Value(k); !ok || v.AsString() != want {
			t.Errorf("%s = %q (%v), want %q", k, v.AsString(), ok, want)
		}
	}
}
