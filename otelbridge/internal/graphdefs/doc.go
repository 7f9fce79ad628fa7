// Package graphdefs posts /stats's graph definitions to Mackerel
// (POST /api/v0/graph-defs/create, through mackerel-client-go), so that the
// custom metrics mackerel-plugin-json makes of /stats get their units and
// labels.
//
// Why the app posts them: Mackerel draws metrics whose names agree up to the
// last dot as one graph, and a definition names that same prefix, so each
// group of siblings is one graph with one unit and its labels. Without a
// definition a graph has no unit (1262288 instead of 1.2 MiB). The agent
// learns definitions only from a plugin's meta output, and
// mackerel-plugin-json prints none; so the app, which knows each
// instrument's unit and description, posts them itself.
//
// Variables read by [FromEnv] (an empty value is unset):
//
//	Variable                     Default                      Meaning
//	MACKEREL_APIKEY              (unset: posting is off)      API key with write permission; sent as X-Api-Key
//	MACKEREL_API_KEY             (unset)                      the same, as the OTLP side also reads it; if both are set they must agree
//	KOMACHI_MACKEREL_GRAPH_DEFS  on                           off, false or 0 turn posting off; on, true or 1 keep it on
//	MACKEREL_APIBASE             https://api.mackerelio.com/  Mackerel's API, as the agents read it: http(s)://host[:port]/, no path
//	KOMACHI_MACKEREL_PREFIX      app                          the -prefix given to mackerel-plugin-json: elements of [-a-zA-Z0-9_] joined by dots, not starting with custom
//
// KOMACHI_MACKEREL_PREFIX must equal the plugin's -prefix: the definitions
// are named custom.<prefix>.<group>, and the agent stores the plugin's
// metrics as custom.<prefix>.<name>; with another prefix they name graphs no
// metric falls into. The plugin's own default, -prefix=custom, gives
// custom.custom.* and is refused here.
//
// When: [Poster.Start] posts at once (if the source has definitions), then
// checks the source once per interval ([WithInterval], the /stats window)
// and posts again when its version has changed since the last successful
// post, so at most once per interval. A failed post is logged as one slog
// line, with the HTTP status when Mackerel answered, and retried after a
// backoff that starts at one interval and doubles up to [MaxBackoff]; it is
// never fatal. The key never appears in an error, a log line or a printed
// [Config]: error texts, which may quote a response body, are scrubbed of it,
// and redirects are not followed, since Go would forward X-Api-Key to the
// redirect's target.
//
// Definitions belong to the Mackerel organization, so every Pod posting the
// same set posts the same thing; posting again is harmless.
package graphdefs
