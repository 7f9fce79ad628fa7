// Package plugintest runs the real mackerel-plugin-json over komachi's
// /stats: its library against internal/plugintest's hand copy of its rules
// (a differential test and a fuzz target seeded from the exporter's golden
// files), and its command against the running examples/basic.
//
// It is a module of its own so that the plugin and its dependencies never
// become dependencies of the komachi library. There is no Go API here: the
// tests are the product.
//
//	cd examples/basic/plugintest && go test -race ./...
package plugintest
