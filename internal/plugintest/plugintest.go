// Package plugintest reads a /stats document the way mackerel-plugin-json
// does, for the tests of every package that serves one. It is the one copy
// of the plugin's rules (see ../shared/docs/mackerel.md) in this repository.
package plugintest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// NameRule is mackerel-agent's rule for a plugin metric name.
var NameRule = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// ValidName reports whether name passes NameRule.
func ValidName(name string) bool { return NameRule.MatchString(name) }

// Flatten reads body exactly as mackerel-plugin-json does: decoded by
// encoding/json into any, objects walked with keys joined by '.' after
// prefix (none when prefix is empty), an array's elements named 0, 1, … in
// place of the array's own key, numbers kept, strings, booleans and nulls
// dropped. It returns as an error what the plugin would panic on (a null in
// an array, a top-level null) and what it would drop or merge silently,
// which the /stats contract forbids; the map holds what the plugin prints.
func Flatten(prefix string, body []byte) (map[string]float64, error) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if v == nil {
		return nil, fmt.Errorf("top-level null (the plugin panics)")
	}
	out := map[string]float64{}
	var problems []string
	join := func(path, key string) string {
		if path == "" {
			return key
		}
		return path + "." + key
	}
	var walk func(path string, v any)
	// walkArray names the elements of an array found at where by their
	// index under path, the array's parent.
	walkArray := func(path, where string, arr []any) {
		for i, c := range arr {
			if c == nil {
				problems = append(problems, "null in array at "+where+" (the plugin panics)")
			}
			walk(join(path, strconv.Itoa(i)), c)
		}
	}
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if arr, ok := c.([]any); ok {
					// The plugin drops an array field's own key.
					problems = append(problems, "array at "+join(path, k))
					walkArray(path, join(path, k), arr)
					continue
				}
				walk(join(path, k), c)
			}
		case []any: // a top-level array
			problems = append(problems, "array at the top")
			walkArray(path, path, x)
		case float64:
			if _, dup := out[path]; dup {
				problems = append(problems, "two values on "+path)
			}
			out[path] = x
		default:
			problems = append(problems, fmt.Sprintf("%T at %s is dropped by the plugin", v, path))
		}
	}
	if _, ok := v.(map[string]any); !ok {
		if _, arr := v.([]any); !arr {
			problems = append(problems, fmt.Sprintf("%T at the top: the plugin prints nothing", v))
		}
	}
	problems = append(problems, repeatedKeys(body)...)
	walk(prefix, v)
	if len(problems) > 0 {
		sort.Strings(problems)
		return out, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return out, nil
}

// repeatedKeys finds keys given twice in one object: encoding/json keeps the
// last value, so the plugin never sees the first.
func repeatedKeys(body []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(body))
	var problems []string
	var objects []map[string]bool // the keys of each open object; nil for an array
	expectKey := func() bool { return len(objects) > 0 && objects[len(objects)-1] != nil }
	afterKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return problems // io.EOF, or invalid JSON, which Unmarshal reported
		}
		switch tok {
		case json.Delim('{'):
			objects = append(objects, map[string]bool{})
			afterKey = false
			continue
		case json.Delim('['):
			objects = append(objects, nil)
			afterKey = false
			continue
		case json.Delim('}'), json.Delim(']'):
			objects = objects[:len(objects)-1]
			afterKey = false
			continue
		}
		if key, ok := tok.(string); ok && expectKey() && !afterKey {
			if objects[len(objects)-1][key] {
				problems = append(problems, "key "+strconv.Quote(key)+" given twice in one object")
			}
			objects[len(objects)-1][key] = true
			afterKey = true
			continue
		}
		afterKey = false
	}
}
