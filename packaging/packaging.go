// Package packaging holds the files the Debian package installs; the
// default configuration is embedded in the binary from here.
package packaging

import _ "embed"

// DefaultConfig is dnsward.yaml: the documented default configuration.
//
//go:embed dnsward.yaml
var DefaultConfig []byte
