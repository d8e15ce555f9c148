package config

import (
	"errors"
	"fmt"
	"reflect"
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
	d := &document{file: file, root: &n}
	if len(n.Content) == 0 {
		return d, nil
	}
	if n.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: the top level must be a mapping of keys", file, n.Content[0].Line)
	}
	return d, nil
}

// checkKeys reports every key that Config does not have and every scalar
// of the wrong type, with its line, before the file is decoded (the decoder
// knows neither file nor line).
func (d *document) checkKeys() error {
	if len(d.root.Content) == 0 {
		return nil
	}
	var errs []error
	walkKeys(d.root.Content[0], reflect.TypeFor[Config](), "", func(line int, key string, err error) {
		errs = append(errs, fmt.Errorf("%s:%d: %s: %w", d.file, line, key, err))
	})
	return errors.Join(errs...)
}

var durationType = reflect.TypeFor[time.Duration]()

func walkKeys(n *yaml.Node, t reflect.Type, key string, report func(int, string, error)) {
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			field, ok := fieldByKey(t, k.Value)
			if !ok {
				report(k.Line, join(key, k.Value), errors.New("unknown key"))
				continue
			}
			walkKeys(val, field.Type, join(key, k.Value), report)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			walkKeys(item, t.Elem(), join(key, strconv.Itoa(i)), report)
		}
	case n.Kind == yaml.ScalarNode:
		if err := checkScalar(n.Value, t); err != nil {
			report(n.Line, key, err)
		}
	case n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode:
		report(n.Line, key, fmt.Errorf("want a %s", kindName(t)))
	}
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
	case t.Kind() == reflect.Struct:
		err = errors.New("want a mapping of keys")
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

// explain turns value problems into one error, each with the file and line
// of the value when it came from the file.
func (d *document) explain(ps []problem) error {
	var errs []error
	for _, p := range ps {
		if line := d.line(p.key); line > 0 {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w", d.file, line, p.key, p.err))
		} else {
			errs = append(errs, fmt.Errorf("%s: %w", p.key, p.err))
		}
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
	if d == nil || len(d.root.Content) == 0 {
		return 0, false
	}
	n := d.root.Content[0]
	for part := range strings.SplitSeq(key, ".") {
		switch n.Kind {
		case yaml.MappingNode:
			i := mappingIndex(n, part)
			if i < 0 {
				return line, false
			}
			line, n = n.Content[i].Line, n.Content[i+1]
		case yaml.SequenceNode:
			i, err := strconv.Atoi(part)
			if err != nil || i >= len(n.Content) {
				return line, false
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line, false
		}
	}
	return line, true
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
