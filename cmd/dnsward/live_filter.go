package main

import (
	"net/netip"

	"github.com/dnsward/dnsward/resolver"
)

// The server closes a disallowed client's TCP connection at accept only
// if the pipeline it is given can say who is allowed.
var _ resolver.ClientFilter = (*livePipeline)(nil)

// Allows asks the live configuration's allow_clients.
func (l *livePipeline) Allows(addr netip.Addr) bool { return l.Load().Allows(addr) }
