package nftset

import (
	"context"
	"errors"
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

// KernelProblems looks up in the kernel every set the nftset section names,
// as a Feeder's start does, for check-config: a set that does not exist or
// cannot take addresses is a problem by its key (nftset.rules.0.sets.1).
// It returns ErrNeedsCapNetAdmin, and no problems, when the caller may not
// list the kernel's sets. netns is the network namespace's descriptor, 0
// for the caller's.
func KernelProblems(ctx context.Context, c config.NftSet, netns int) ([]config.Problem, error) {
	if len(c.Rules) == 0 {
		return nil, nil
	}
	conn, _, err := dial(ctx, netns)
	if err != nil {
		return nil, err
	}
	defer conn.CloseLasting()
	var ps []config.Problem
	for i, r := range c.Rules {
		for j, s := range r.Sets {
			ref, err := parseRef(s)
			if err == nil {
				if _, err = lookup(conn, ref); err != nil {
					err = fmt.Errorf("%s: %w", ref, err)
				}
			}
			switch {
			case errors.Is(err, ErrNeedsCapNetAdmin):
				return nil, err
			case err != nil:
				ps = append(ps, config.Problem{Key: fmt.Sprintf("nftset.rules.%d.sets.%d", i, j), Err: err})
			}
		}
	}
	return ps, nil
}
