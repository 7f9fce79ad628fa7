package otelbridge

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel/sdk/resource"
)

// envResourceAttributes is read by the SDK's resource detector.
const envResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"

// detectResource checks OTEL_RESOURCE_ATTRIBUTES first, so a mistake there is
// an error naming it, then lets the SDK read it and OTEL_SERVICE_NAME, and
// adds what the host, process and container tell. Process command arguments
// and the executable path are left out: they can hold secrets.
func detectResource(ctx context.Context, cfg config) (*resource.Resource, error) {
	if err := checkResourceAttributes(os.Getenv(envResourceAttributes)); err != nil {
		return nil, fmt.Errorf("otelbridge: %s: %w", envResourceAttributes, err)
	}
	fromEnv, err := resource.New(ctx, resource.WithFromEnv())
	if err != nil {
		// Not wrapped: the SDK's message quotes the entries it refused.
		return nil, fmt.Errorf("otelbridge: %s or OTEL_SERVICE_NAME: not accepted by the SDK", envResourceAttributes)
	}
	detected, err := resource.New(ctx,
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithContainer(),
		resource.WithProcessPID(), resource.WithProcessExecutableName(), resource.WithProcessOwner(),
		resource.WithProcessRuntimeName(), resource.WithProcessRuntimeVersion(), resource.WithProcessRuntimeDescription(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		cfg.logger.Warn("komachi: resource detection failed", "error", err)
	}
	res := resource.Default()
	for _, r := range []*resource.Resource{detected, fromEnv, cfg.resource} {
		if r == nil {
			continue
		}
		merged, err := resource.Merge(res, r)
		if err != nil {
			// Only a schema URL conflict fails a merge: keep what was there.
			cfg.logger.Warn("komachi: resource merge", "error", err)
			continue
		}
		res = merged
	}
	return res, nil
}

// checkResourceAttributes refuses every entry the SDK would not take as
// written: one without '=' (the SDK's error quotes it), one with an empty key
// (dropped without a word), one whose value is not valid percent-encoding
// (kept raw, with a line through the standard log). Errors tell the entry's
// position, never its text: a value may hold a token.
func checkResourceAttributes(s string) error {
	s = strings.TrimSpace(s) // as the SDK reads it
	if s == "" {
		return nil
	}
	i := 0
	for entry := range strings.SplitSeq(s, ",") {
		i++
		k, v, ok := strings.Cut(entry, "=")
		switch {
		case !ok:
			return fmt.Errorf("entry %d: missing '=' (want key=value, values percent-encoded)", i)
		case strings.TrimSpace(k) == "":
			return fmt.Errorf("entry %d: empty key", i)
		}
		if _, err := url.PathUnescape(strings.TrimSpace(v)); err != nil {
			return fmt.Errorf("entry %d: invalid percent-encoding in the value", i)
		}
	}
	return nil
}
