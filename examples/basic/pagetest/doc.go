// Package pagetest drives a real headless Chromium through the Chrome
// DevTools Protocol against the live page at /ops/: examples/basic running
// with a one-second window and traffic, and an in-process server with a
// hundred graphs. It checks what a person would see (one chart per graph
// definition, drawn lines, units on the axes, the header's metric count)
// and what the page must never do (a console error, a request off the
// loopback host, a missing Content-Security-Policy).
//
// It is a module of its own so that chromedp never becomes a dependency of
// the komachi library. There is no Go API here: the tests are the product.
// They need Debian's chromium package (.ci/run installs it); without it
// they skip, unless CI is set.
//
//	cd examples/basic/pagetest && go test -race ./...
//
// The README's screenshot, docs/screenshot.png, is taken by
// TestPageInChromium. To regenerate it:
//
//	cd examples/basic/pagetest && KOMACHI_UPDATE_SCREENSHOT=1 go test -run TestPageInChromium ./...
package pagetest
