package blocklists

import (
	"slices"
	"strings"
	"testing"
)

func FuzzParseLine(f *testing.F) {
	for _, seed := range []string{
		"0.0.0.0 ads.example.com tracker.example.net # c",
		"||ads.example.com^$important",
		"@@||good.example.com^",
		"*.example.org.",
		`/^ad[0-9]+\./`,
		"bücher.example",
		"Xn--bcher-kva.example",
		"127.0.0.1 localhost",
		"example.com##.banner",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseLine(line)
		if err != nil {
			return
		}
		if (r.Kind == KindRegexp) != (r.Regexp != nil) || (r.Kind == KindNone) != (len(r.Names) == 0 && r.Regexp == nil) {
			t.Fatalf("ParseLine(%q) = inconsistent %+v", line, r)
		}
		for _, name := range r.Names {
			if err := checkName(name); err != nil {
				t.Fatalf("ParseLine(%q) accepted invalid name: %v", line, err)
			}
			// The canonical form is what the matcher stores and reports, so
			// it must parse back to the same rule and decode to the name.
			canon := strings.TrimSuffix(string(appendRule(nil, r.Kind, r.Allow, name)), "\n")
			back, err := ParseLine(canon)
			if err != nil || back.Kind != r.Kind || back.Allow != r.Allow || !slices.Equal(back.Names, []string{name}) {
				t.Fatalf("canonical form %q of %q parses as %+v, %v", canon, line, back, err)
			}
			if key, allow, subOnly := decodeRule(canon); key != name || allow != r.Allow || subOnly != (r.Kind == KindWildcard) {
				t.Fatalf("decodeRule(%q) = %q %v %v", canon, key, allow, subOnly)
			}
		}
	})
}
