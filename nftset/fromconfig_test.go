package nftset

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/config"
)

// TestFromConfig translates the nftset section: rules, set references,
// the add bound and the grace.
func TestFromConfig(t *testing.T) {
	tests := []struct {
		name string
		in   config.NftSet
		want Options
		err  string
	}{
		{"empty", config.NftSet{AddTimeout: 50 * time.Millisecond},
			Options{Grace: time.Minute, AddTimeout: 50 * time.Millisecond}, ""},
		{"rules", config.NftSet{AddTimeout: 20 * time.Millisecond, Rules: []config.NftSetRule{
			{Domains: []string{"example.com", "example.net"}, Sets: []string{"inet filter allow4", "ip6 fw allow6"}},
			{Domains: []string{"cdn.test"}, Sets: []string{"ip nat v4"}},
		}}, Options{Grace: time.Minute, AddTimeout: 20 * time.Millisecond, Rules: []Rule{
			{Domains: []string{"example.com", "example.net"}, Sets: []SetRef{{Inet, "filter", "allow4"}, {IP6, "fw", "allow6"}}},
			{Domains: []string{"cdn.test"}, Sets: []SetRef{{IP, "nat", "v4"}}},
		}}, ""},
		{"bad ref", config.NftSet{Rules: []config.NftSetRule{{Domains: []string{"a.test"}, Sets: []string{"ip a b"}}, {Domains: []string{"b.test"}, Sets: []string{"arp filter s"}}}},
			Options{}, "nftset rule 2: set \"arp filter s\": family \"arp\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromConfig(tt.in, time.Minute)
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
