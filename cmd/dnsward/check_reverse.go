package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/resolver"
)

// printForwardedReverse tells check-config's user which private reverse
// zones are forwarded though bogus_priv is on: their forward zones take
// precedence, as dnsmasq's server= lines do.
func printForwardedReverse(w io.Writer, cfg *config.Config) error {
	if !cfg.Local.BogusPriv {
		return nil
	}
	var domains []string
	for _, z := range cfg.ForwardZones {
		domains = append(domains, z.Domain)
	}
	zones := resolver.ForwardedPrivateReverse(domains)
	if len(zones) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "private reverse zones forwarded despite local.bogus_priv: %s\n", strings.Join(zones, ", "))
	return err
}
