package flows

import (
	"fmt"
	"testing"
	"time"

	"github.com/dnsward/dnsward/answers"
)

// TestAttributeFromTheAnswerIndex joins flows to the real answer index.
func TestAttributeFromTheAnswerIndex(t *testing.T) {
	ix := answers.New(answers.Options{Grace: time.Minute})
	ix.Observe(answers.Answer{Client: ip("10.0.0.5"), Name: "www.example.test", Chain: []string{"example.test"},
		TTL: 5 * time.Minute, At: t0}, ip("192.0.2.1"))
	lk := IndexLookuper{Index: ix}
	for _, tt := range []struct {
		client, dest string
		at           time.Duration
		want         string
	}{
		{"10.0.0.5:40000", "192.0.2.1:443", time.Minute, "same_client [10.0.0.5 www.example.test [example.test] 2026-12-01 12:06:00]"},
		{"10.0.0.6:40000", "192.0.2.1:443", time.Minute, "other_client [10.0.0.5 www.example.test [example.test] 2026-12-01 12:06:00]"},
		{"10.0.0.5:40000", "192.0.2.2:443", time.Minute, "no_lookup []"},
		{"10.0.0.5:40000", "192.0.2.1:443", 7 * time.Minute, "no_lookup []"}, // past its TTL and grace
	} {
		f := Attribute(Flow{Time: t0.Add(tt.at), Client: ap(tt.client), Dest: ap(tt.dest)}, lk)
		got := f.Attribution.String() + " ["
		for _, n := range f.Names {
			got += fmt.Sprintf("%s %s %v %s", n.Client, n.Name, n.Chain, n.ValidUntil.UTC().Format(time.DateTime))
		}
		if got += "]"; got != tt.want {
			t.Errorf("%s > %s at +%v: %s, want %s", tt.client, tt.dest, tt.at, got, tt.want)
		}
	}
}
