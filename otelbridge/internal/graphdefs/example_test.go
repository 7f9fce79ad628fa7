package graphdefs_test

import (
	"fmt"

	"github.com/komachi-go/komachi/otelbridge/internal/graphdefs"
)

func ExampleFromEnv() {
	env := map[string]string{
		"MACKEREL_APIKEY":         "0123456789abcdef",
		"KOMACHI_MACKEREL_PREFIX": "myapp", // the same as mackerel-plugin-json -prefix=myapp
	}
	cfg, enabled, err := graphdefs.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	fmt.Println(enabled, err)
	fmt.Printf("%+v\n", cfg)

	env["KOMACHI_MACKEREL_GRAPH_DEFS"] = "off"
	_, enabled, err = graphdefs.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	fmt.Println(enabled, err)
	// Output:
	// true <nil>
	// {APIKey:[REDACTED] APIBase:https://api.mackerelio.com/ Prefix:myapp}
	// false <nil>
}
