package page

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

func newHandler(t *testing.T, c Config) *Handler {
	t.Helper()
	h, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var basic = Config{Window: time.Minute, Budget: 20, Prefix: "basic"}

// Every answer, error or not, carries the same guard headers.
func TestHeaders(t *testing.T) {
	h := newHandler(t, basic)
	for _, tc := range []struct {
		method, path string
		code         int
		ctype        string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/page.js", 200, "text/javascript; charset=utf-8"},
		{"HEAD", "/page.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/page.css", 200, "text/css; charset=utf-8"},
		{"GET", "/favicon.svg", 200, "image/svg+xml"},
		{"POST", "/", 405, "text/plain; charset=utf-8"},
		{"PUT", "/page.js", 405, "text/plain; charset=utf-8"},
		{"GET", "/index.html", 404, "text/plain; charset=utf-8"},
		{"GET", "/assets/page.js", 404, "text/plain; charset=utf-8"},
		{"POST", "/nope", 404, "text/plain; charset=utf-8"},
	} {
		w := get(h, tc.method, tc.path)
		hdr := w.Header()
		if w.Code != tc.code || hdr.Get("Content-Type") != tc.ctype {
			t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, w.Code, hdr.Get("Content-Type"), tc.code, tc.ctype)
		}
		for key, want := range map[string]string{
			"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
			"X-Content-Type-Options":  "nosniff",
			"Cache-Control":           "no-cache",
			"Referrer-Policy":         "no-referrer",
		} {
			if got := hdr.Values(key); len(got) != 1 || got[0] != want {
				t.Errorf("%s %s: %s %q, want %q", tc.method, tc.path, key, got, want)
			}
		}
		if tc.code == 405 && hdr.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q, want GET, HEAD", tc.method, tc.path, hdr.Get("Allow"))
		}
		if tc.method == "HEAD" && w.Body.Len() != 0 {
			t.Errorf("HEAD %s has a body of %d bytes", tc.path, w.Body.Len())
		}
		if tc.code == 200 && tc.method == "GET" && (w.Body.Len() == 0 || hdr.Get("Etag") == "") {
			t.Errorf("GET %s: %d bytes, ETag %q", tc.path, w.Body.Len(), hdr.Get("Etag"))
		}
	}
}

// The embedded assets are served as they are in the binary, and a reload
// with the ETag revalidates without a body.
func TestAssetsServed(t *testing.T) {
	h := newHandler(t, basic)
	for _, path := range []string{"/page.js", "/page.css", "/favicon.svg"} {
		want, err := assets.ReadFile("assets" + path)
		if err != nil {
			t.Fatal(err)
		}
		w := get(h, "GET", path)
		if !bytes.Equal(w.Body.Bytes(), want) || len(want) == 0 {
			t.Errorf("GET %s: %d bytes, want the %d embedded", path, w.Body.Len(), len(want))
		}
		again := get(h, "GET", path, "If-None-Match", w.Header().Get("Etag"))
		if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("GET %s with its ETag = %d, %d bytes; want 304 without a body", path, again.Code, again.Body.Len())
		}
	}
}

func TestNewRejects(t *testing.T) {
	for _, c := range []Config{{Window: 0, Budget: 20}, {Window: time.Second, Budget: -1}} {
		if _, err := New(c); err == nil || !strings.HasPrefix(err.Error(), "page: ") {
			t.Errorf("New(%+v) = %v, want an error of package page", c, err)
		}
	}
}

// parse parses the page h serves, with scripting off, so that what
// <noscript> holds is parsed (and checked) too.
func parse(t *testing.T, h http.Handler) *html.Node {
	t.Helper()
	doc, err := html.ParseWithOptions(get(h, "GET", "/").Body, html.ParseOptionEnableScripting(false))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func walk(n *html.Node, visit func(*html.Node)) {
	visit(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, visit)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
	})
	return b.String()
}

// byID finds the elements the page's script and the browser test rely on.
func byID(doc *html.Node) map[string]*html.Node {
	ids := map[string]*html.Node{}
	walk(doc, func(n *html.Node) {
		if id, ok := attr(n, "id"); ok && n.Type == html.ElementNode {
			ids[id] = n
		}
	})
	return ids
}

// The server's values reach the body as data attributes, escaped by
// html/template whatever they hold, and the header states budget and window.
func TestDataAttributes(t *testing.T) {
	for _, tc := range []struct {
		c               Config
		seconds, budget string
	}{
		{basic, "60", "20"},
		{Config{Window: 1500 * time.Millisecond, Budget: 0, Prefix: ""}, "1.5", "0"},
		{Config{Window: 10 * time.Second, Budget: 7, Prefix: `"><script>alert(1)</script><x a='&amp;`}, "10", "7"},
	} {
		doc := parse(t, newHandler(t, tc.c))
		var body *html.Node
		scripts := 0
		walk(doc, func(n *html.Node) {
			switch n.DataAtom {
			case atom.Body:
				body = n
			case atom.Script:
				scripts++
			}
		})
		for key, want := range map[string]string{
			"data-window-seconds": tc.seconds,
			"data-budget":         tc.budget,
			"data-prefix":         tc.c.Prefix,
		} {
			if got, ok := attr(body, key); !ok || got != want {
				t.Errorf("%+v: body %s = %q (present %v), want %q", tc.c, key, got, ok, want)
			}
		}
		if scripts != 1 {
			t.Errorf("%+v: %d script elements, want page.js alone", tc.c, scripts)
		}
		ids := byID(doc)
		if got := text(ids["budget"]); got != tc.budget {
			t.Errorf("%+v: #budget %q, want %q", tc.c, got, tc.budget)
		}
		if got := text(ids["window"]); got != tc.seconds+" s" {
			t.Errorf("%+v: #window %q, want %q", tc.c, got, tc.seconds+" s")
		}
	}
}

// The elements of the DOM contract the script fills in are all in the
// document, once each.
func TestDOMContract(t *testing.T) {
	ids := byID(parse(t, newHandler(t, basic)))
	for _, id := range []string{"metric-count", "budget", "window", "last-window", "heartbeat", "empty", "error", "notice", "charts", "cost", "over"} {
		if ids[id] == nil {
			t.Errorf("no #%s in the page", id)
		}
	}
	if hb := ids["heartbeat"]; hb != nil {
		if _, ok := attr(hb, "data-status"); !ok {
			t.Error("#heartbeat has no data-status")
		}
	}
	// Without JavaScript only the <noscript> text may show: #empty is the
	// script's to fill ("Loading…", then why there is nothing).
	if e := ids["empty"]; e != nil {
		if _, hidden := attr(e, "hidden"); !hidden {
			t.Error("#empty shows before the script runs: without JavaScript the page would say it is loading forever")
		}
	}
	js, _ := assets.ReadFile("assets/page.js")
	for _, id := range []string{"metric-count", "last-window", "heartbeat", "empty", "error", "notice", "charts", "cost", "over"} {
		if !bytes.Contains(js, []byte("'"+id+"'")) {
			t.Errorf("page.js never names #%s", id)
		}
	}
	for _, s := range []string{"section class=\"chart\"", "data-graph=", "path class=\"line", "data-series=", "data-points=",
		"text class=\"tick\"", "ul class=\"legend\"", "class=\"readout\"", "body.dataset.windows", "body.dataset.charts", "li class=\"vital\""} {
		if !bytes.Contains(js, []byte(s)) {
			t.Errorf("page.js never writes %s", s)
		}
	}
}

// Nothing inline (the CSP would refuse it) and nothing off the machine:
// every URL of the page is relative to where it is mounted.
func TestNothingInlineNothingRemote(t *testing.T) {
	doc := parse(t, newHandler(t, basic))
	var urls []string
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		switch n.DataAtom {
		case atom.Script:
			if src, ok := attr(n, "src"); !ok || src == "" || strings.TrimSpace(text(n)) != "" {
				t.Errorf("inline script: src %q, %q", src, text(n))
			}
		case atom.Style:
			t.Errorf("inline <style>: %q", text(n))
		}
		for _, a := range n.Attr {
			switch {
			case a.Key == "style":
				t.Errorf("<%s style=%q>: the CSP refuses inline style", n.Data, a.Val)
			case strings.HasPrefix(a.Key, "on"):
				t.Errorf("<%s %s=%q>: the CSP refuses inline handlers", n.Data, a.Key, a.Val)
			case a.Key == "href" || a.Key == "src" || a.Key == "action" || a.Key == "srcset" || a.Key == "poster":
				urls = append(urls, a.Val)
			}
		}
	})
	want := map[string]bool{"page.css": false, "page.js": false, "favicon.svg": false}
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || p.Scheme != "" || p.Host != "" || strings.HasPrefix(u, "/") || strings.Contains(u, "\\") {
			t.Errorf("URL %q is not relative to the mount point", u)
		}
		if _, ok := want[u]; ok {
			want[u] = true
		}
	}
	for u, seen := range want {
		if !seen {
			t.Errorf("the page does not load %s", u)
		}
	}
	// The script and the styles name no other origin either: no scheme, no
	// protocol-relative URL in a string, no CSS url() or @import.
	js, _ := assets.ReadFile("assets/page.js")
	css, _ := assets.ReadFile("assets/page.css")
	remote := regexp.MustCompile(`[a-z]+://|["'\x60(]//`)
	for name, b := range map[string][]byte{"page.js": js, "page.css": css} {
		if m := remote.Find(b); m != nil {
			t.Errorf("%s names another origin: %q", name, m)
		}
	}
	if bytes.Contains(css, []byte("url(")) || bytes.Contains(css, []byte("@import")) {
		t.Error("page.css loads something: url( or @import")
	}
	// Every fetch of the script is relative too.
	for _, m := range regexp.MustCompile(`fetchJSON\('([^']*)'\)`).FindAllSubmatch(js, -1) {
		if u := string(m[1]); strings.HasPrefix(u, "/") || strings.Contains(u, ":") {
			t.Errorf("page.js fetches %q, not relative to the mount point", u)
		}
	}
	// Nor does the script set inline styles through markup.
	if bytes.Contains(js, []byte("style=")) {
		t.Error("page.js writes a style attribute: the CSP refuses it")
	}
}
