package graphdefs

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/komachi-go/komachi/otelbridge/internal/mackerelkey"
)

// Environment variables read by [FromEnv]. The key variables and their
// rules are mackerelkey's, which the OTLP side (otelbridge/internal/forward)
// reads too.
const (
	EnvAPIKey    = mackerelkey.EnvName
	EnvAPIKeyAlt = mackerelkey.EnvNameAlt
	EnvAPIBase   = "MACKEREL_APIBASE"
	EnvGraphDefs = "KOMACHI_MACKEREL_GRAPH_DEFS"
	EnvPrefix    = "KOMACHI_MACKEREL_PREFIX"
)

// Defaults applied by [FromEnv] and, for zero fields, by [New].
const (
	// DefaultAPIBase is Mackerel's API, as mackerel-client-go and the agents
	// default to it.
	DefaultAPIBase = "https://api.mackerelio.com/"
	// DefaultPrefix is the graph-name prefix when KOMACHI_MACKEREL_PREFIX is
	// unset. It must equal mackerel-plugin-json's -prefix, which komachi's
	// docs set to the app's name; the plugin's own default, "custom", would
	// make names custom.custom.* and is refused.
	DefaultPrefix = "app"
)

// Secret is a string that never prints itself (fmt, slog, JSON): the one
// type of both Mackerel clients, mackerelkey.Secret.
type Secret = mackerelkey.Secret

// Config says where and under which prefix the definitions are posted.
// Printing it (fmt, slog, JSON) never shows the key: [Secret] redacts
// itself.
type Config struct {
	// APIKey is a Mackerel API key with write permission, sent as X-Api-Key.
	APIKey Secret
	// APIBase is scheme://host[:port]/; empty means [DefaultAPIBase].
	APIBase string
	// Prefix is mackerel-plugin-json's -prefix: every graph name starts with
	// it (Mackerel sees custom.<Prefix>.…); empty means [DefaultPrefix].
	Prefix string
}

// FromEnv resolves the configuration through lookup (os.LookupEnv in
// production); an empty value counts as unset. enabled is false, with a zero
// Config and no error, when no API key is set or KOMACHI_MACKEREL_GRAPH_DEFS
// turns posting off; MACKEREL_APIBASE and KOMACHI_MACKEREL_PREFIX are then not
// read. Every error names the variable at fault and never holds its value.
func FromEnv(lookup func(string) (string, bool)) (cfg Config, enabled bool, err error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return v
	}
	// The prefix names the graphs /stats/graphs serves too, posted or not.
	cfg = Config{APIBase: DefaultAPIBase, Prefix: DefaultPrefix}
	if v := get(EnvPrefix); v != "" {
		if err := checkPrefix(v); err != nil {
			return Config{}, false, envError(EnvPrefix, err)
		}
		cfg.Prefix = v
	}
	on, err := parseSwitch(get(EnvGraphDefs))
	if err != nil {
		return Config{}, false, envError(EnvGraphDefs, err)
	}
	if !on {
		return cfg, false, nil
	}
	key, _, err := mackerelkey.FromEnv(lookup)
	if err != nil {
		return Config{}, false, fmt.Errorf("graphdefs: %w", err)
	}
	if key == "" {
		return cfg, false, nil
	}
	cfg.APIKey = key
	if v := strings.TrimSpace(get(EnvAPIBase)); v != "" {
		if cfg.APIBase, err = parseAPIBase(v); err != nil {
			return Config{}, false, envError(EnvAPIBase, err)
		}
	}
	return cfg, true, nil
}

func envError(name string, err error) error {
	return fmt.Errorf("graphdefs: %s: %w", name, err)
}

// parseSwitch reads KOMACHI_MACKEREL_GRAPH_DEFS: posting is on by default
// whenever a key is set, so only an explicit "off" turns it off.
func parseSwitch(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "on", "true", "1":
		return true, nil
	case "off", "false", "0":
		return false, nil
	}
	return false, errors.New("want on or off (true/false, 1/0)")
}

// ErrInvalidAPIKey reports an API key that cannot be sent as a header value.
var ErrInvalidAPIKey = mackerelkey.ErrInvalid

// parseAPIBase accepts what the agents accept in MACKEREL_APIBASE, an
// http(s) URL, but only the parts mackerel-client-go uses: it replaces the
// URL's path with the API path, so a path would be silently dropped, and
// credentials would travel in every request line. The value is never echoed.
func parseAPIBase(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a valid URL")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", errors.New("URL scheme must be http or https")
	case u.User != nil:
		return "", errors.New("credentials in the URL are not supported")
	case u.Host == "" || u.Hostname() == "":
		return "", errors.New("missing host")
	case u.Path != "" && u.Path != "/", u.RawPath != "":
		return "", errors.New("the URL must have no path: mackerel-client-go replaces it with the API path")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", errors.New("URL must not have a query or a fragment")
	}
	return scheme + "://" + u.Host + "/", nil
}

// segment is one element of a Mackerel metric name.
var segment = regexp.MustCompile(`^[-a-zA-Z0-9_]+$`)

// checkPrefix accepts one or more metric-name segments joined by dots, as
// mackerel-plugin-json's -prefix must be for its names to be stored. The
// error says what is wrong, never the value.
func checkPrefix(p string) error {
	for i, s := range strings.Split(p, ".") {
		if !segment.MatchString(s) {
			if s == "" {
				return fmt.Errorf("element %d is empty: want elements of [-a-zA-Z0-9_] joined by dots", i+1)
			}
			return fmt.Errorf("element %d has a character outside [-a-zA-Z0-9_]", i+1)
		}
		if i == 0 && s == "custom" {
			return errors.New("must not start with custom: the agent adds custom. itself, and names would become custom.custom.*")
		}
	}
	return nil
}

// withDefaults fills zero fields, so that a hand-built Config works.
func (c Config) withDefaults() Config {
	if c.APIBase == "" {
		c.APIBase = DefaultAPIBase
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	return c
}

// validate checks a Config that may not come from FromEnv; errors name the
// field and never hold the key.
func (c Config) validate() (Config, error) {
	if c.APIKey == "" {
		return c, errors.New("graphdefs: Config.APIKey is empty")
	}
	if err := mackerelkey.Check(string(c.APIKey)); err != nil {
		return c, fmt.Errorf("graphdefs: Config.APIKey: %w", err)
	}
	base, err := parseAPIBase(c.APIBase)
	if err != nil {
		return c, fmt.Errorf("graphdefs: Config.APIBase: %w", err)
	}
	c.APIBase = base
	if err := checkPrefix(c.Prefix); err != nil {
		return c, fmt.Errorf("graphdefs: Config.Prefix: %w", err)
	}
	return c, nil
}
