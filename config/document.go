package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// document is a configuration file parsed with positions, so that errors
// can name the line at fault.
type document struct {
	file string
	root *yaml.Node
}

func parseDocument(file string, data []byte) (*document, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(n.Content) == 0 {
		// Taking it would silently run on the built-in defaults: public
		// upstreams and default client ranges, not what the admin wrote.
		return nil, fmt.Errorf("%s: the file is empty or holds only comments; "+
			"refusing it rather than falling back to the built-in defaults", file)
	}
	if n.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: the top level must be a mapping of keys", file, n.Content[0].Line)
	}
	return &document{file: file, root: &n}, nil
}

// located is one problem with the file line it concerns, 0 when it did not
// come from the file.
type located struct {
	line int
	err  error
}

// prune reports every key that Config does not have and every value of the
// wrong type, with its line, and removes them from the document so that the
// rest still decodes and is validated: every problem is reported at once.
// It returns the problems and the keys removed.
func (d *document) prune() ([]located, []string) {
	// The docs write "response: null", which YAML reads as no value.
	if n := d.node("blocklists.response"); n != nil && n.Kind == yaml.ScalarNode && strings.EqualFold(n.Value, "null") {
		n.Tag, n.Value = "!!str", "null"
	}
	var ps []located
	var removed []string
	walkKeys(d.root.Content[0], reflect.TypeFor[Config](), "", func(line int, key string, err error) {
		ps = append(ps, located{line, fmt.Errorf("%s:%d: %s: %w", d.file, line, key, err)})
		removed = append(removed, key)
	})
	return ps, removed
}

// settings is the document, pruned, as viper merges it.
func (d *document) settings() (map[string]any, error) {
	var m map[string]any
	if err := d.root.Content[0].Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", d.file, err)
	}
	return m, nil
}

var durationType = reflect.TypeFor[time.Duration]()

// walkKeys checks n against t, reporting what is wrong; it says whether n
// itself is wrong. Wrong keys are removed from mappings and wrong list
// items replaced by empty ones, which keeps the other items' indexes.
func walkKeys(n *yaml.Node, t reflect.Type, key string, report func(int, string, error)) (bad bool) {
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			field, ok := fieldByKey(t, k.Value)
			if !ok {
				report(k.Line, join(key, k.Value), errors.New("unknown key"))
				continue
			}
			if walkKeys(val, field.Type, join(key, k.Value), report) {
				continue
			}
			kept = append(kept, k, val)
		}
		n.Content = kept
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			if walkKeys(item, t.Elem(), join(key, strconv.Itoa(i)), report) {
				n.Content[i] = emptyNode(t.Elem())
			}
		}
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null" && t.Kind() == reflect.Slice:
		// No value: an empty list.
	case n.Kind == yaml.ScalarNode:
		if err := checkScalar(n.Value, t); err != nil {
			report(n.Line, key, err)
			return true
		}
	case n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode:
		report(n.Line, key, fmt.Errorf("want a %s", kindName(t)))
		return true
	}
	return false
}

// emptyNode stands in for a wrong list item of type t.
func emptyNode(t reflect.Type) *yaml.Node {
	if t.Kind() == reflect.Struct {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str"}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func checkScalar(v string, t reflect.Type) error {
	var err error
	switch {
	case t == durationType:
		_, err = time.ParseDuration(v)
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		_, err = strconv.ParseInt(v, 10, 64)
	case t.Kind() == reflect.Bool:
		_, err = strconv.ParseBool(v)
	case t.Kind() == reflect.Float64:
		_, err = strconv.ParseFloat(v, 64)
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		// A lone value makes a list of strings, not of mappings.
		err = errors.New("want a " + kindName(t))
	}
	if err != nil {
		return fmt.Errorf("%q is not a %s", v, kindName(t))
	}
	return nil
}

func kindName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration such as 1500ms or 4s"
	case t.Kind() == reflect.Struct:
		return "mapping of keys"
	case t.Kind() == reflect.Slice:
		return "list"
	case t.Kind() == reflect.Bool:
		return "boolean (true or false)"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "whole number"
	case t.Kind() == reflect.Float64:
		return "number"
	}
	return t.Kind().String()
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("mapstructure") == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// locate gives each value problem the file line of its value, or names the
// variable or flag that set it. Problems under a key prune removed are
// left out: they only repeat that the key was wrong.
func (d *document) locate(ps []Problem, origins map[string]string, removed []string) []located {
	var out []located
	for _, p := range ps {
		if slices.ContainsFunc(removed, func(r string) bool { return within(p.Key, r) }) {
			continue
		}
		if origin := originOf(p.Key, origins); origin != "" {
			out = append(out, located{0, fmt.Errorf("%s: %s: %w", origin, p.Key, p.Err)})
		} else if line := d.line(p.Key); line > 0 {
			out = append(out, located{line, fmt.Errorf("%s:%d: %s: %w", d.file, line, p.Key, p.Err)})
		} else {
			out = append(out, located{0, fmt.Errorf("%s: %w", p.Key, p.Err)})
		}
	}
	return out
}

// within says whether key is ancestor or key itself.
func within(key, ancestor string) bool {
	return key == ancestor || strings.HasPrefix(key, ancestor+".")
}

// originOf is the variable or flag that set key or an ancestor of it, or "".
func originOf(key string, origins map[string]string) string {
	for k, origin := range origins {
		if within(key, k) {
			return origin
		}
	}
	return ""
}

// joinInLineOrder makes one error of the problems, in file line order,
// then those not from the file.
func joinInLineOrder(ps []located) error {
	slices.SortStableFunc(ps, func(a, b located) int {
		switch {
		case a.line == b.line:
			return 0
		case a.line == 0:
			return 1
		case b.line == 0:
			return -1
		}
		return a.line - b.line
	})
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p.err
	}
	return errors.Join(errs...)
}

// line finds the line of a dotted key path, or of its nearest ancestor
// present in the file; 0 when the value did not come from the file.
func (d *document) line(key string) int {
	line, _ := d.lookup(key)
	return line
}

// lookup is line, also saying whether the key itself was found.
func (d *document) lookup(key string) (line int, exact bool) {
	line, n := d.find(key)
	return line, n != nil
}

// node is the value of a dotted key path, or nil.
func (d *document) node(key string) *yaml.Node {
	_, n := d.find(key)
	return n
}

// find is the line and value of a dotted key path; the value is nil, and
// the line that of the nearest ancestor, when the key is not in the file.
func (d *document) find(key string) (line int, _ *yaml.Node) {
	if d == nil {
		return 0, nil
	}
	n := d.root.Content[0]
	for part := range strings.SplitSeq(key, ".") {
		switch n.Kind {
		case yaml.MappingNode:
			i := mappingIndex(n, part)
			if i < 0 {
				return line, nil
			}
			line, n = n.Content[i].Line, n.Content[i+1]
		case yaml.SequenceNode:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(n.Content) {
				return line, nil
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line, nil
		}
	}
	return line, n
}

// mappingIndex is the index of key among a mapping node's keys, or -1.
func mappingIndex(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return i
		}
	}
	return -1
}
