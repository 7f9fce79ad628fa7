module github.com/komachi-go/komachi/examples/basic/plugintest

go 1.26.0

replace github.com/komachi-go/komachi => ../../..

require (
	github.com/komachi-go/komachi v0.0.0-00010101000000-000000000000
	github.com/mackerelio/mackerel-plugin-json v1.2.8
	go.uber.org/goleak v1.3.0
)

require github.com/mackerelio/golib v1.2.2 // indirect
