package config

import (
	"reflect"
	"slices"
)

// RestartOnly names the keys tagged reload:"restart" whose values differ
// between old and cur, sorted: a reload cannot apply them.
func RestartOnly(old, cur *Config) []string {
	var changed []string
	restartKeys(reflect.ValueOf(*old), reflect.ValueOf(*cur), "", &changed)
	slices.Sort(changed)
	return changed
}

// restartKeys adds to changed the restart-only keys under prefix whose
// values differ between old and cur, two values of one struct type.
func restartKeys(old, cur reflect.Value, prefix string, changed *[]string) {
	t := old.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := join(prefix, f.Tag.Get("mapstructure"))
		switch {
		case f.Tag.Get("reload") == "restart":
			if !reflect.DeepEqual(old.Field(i).Interface(), cur.Field(i).Interface()) {
				*changed = append(*changed, key)
			}
		case f.Type.Kind() == reflect.Struct && f.Type != durationType:
			restartKeys(old.Field(i), cur.Field(i), key, changed)
		}
	}
}
