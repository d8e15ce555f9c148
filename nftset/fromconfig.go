package nftset

import (
	"fmt"
	"time"

	"github.com/dnsward/dnsward/config"
)

// FromConfig is the nftset section as a Feeder takes it; grace is
// answers.grace, added to each element's timeout as to the index's windows.
func FromConfig(c config.NftSet, grace time.Duration) (Options, error) {
	o := Options{Grace: grace, AddTimeout: c.AddTimeout}
	for i, r := range c.Rules {
		rule := Rule{Domains: r.Domains}
		for _, s := range r.Sets {
			ref, err := parseRef(s)
			if err != nil {
				return Options{}, fmt.Errorf("nftset rule %d: %w", i+1, err)
			}
			rule.Sets = append(rule.Sets, ref)
		}
		o.Rules = append(o.Rules, rule)
	}
	return o, nil
}

// parseRef parses "family table set" with the config's syntax.
func parseRef(s string) (SetRef, error) {
	r, err := config.ParseSetRef(s)
	if err != nil {
		return SetRef{}, err
	}
	ref := SetRef{Table: r.Table, Set: r.Set}
	if err := ref.Family.UnmarshalText([]byte(r.Family)); err != nil {
		return SetRef{}, err
	}
	return ref, nil
}
