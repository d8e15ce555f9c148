package config

import (
	"fmt"
	"strings"
)

// Control is the local control endpoint: read-only JSON over HTTP on a
// Unix socket, which `dnsward who` asks.
type Control struct {
	// Socket is the socket's path, created mode 0660 once privileges are
	// dropped; empty turns the endpoint off.
	Socket string `mapstructure:"socket"`
}

// maxSocketPath is the longest path a Unix socket address holds (Linux's
// sun_path is 108 bytes with its terminating NUL).
const maxSocketPath = 107

// validateControl checks the control section.
func (c *Config) validateControl() []Problem {
	s := c.Control.Socket
	switch {
	case s == "":
		return nil
	case len(s) > maxSocketPath:
		return []Problem{{"control.socket", fmt.Errorf("%q: a Unix socket path is at most %d bytes, this one %d", s, maxSocketPath, len(s))}}
	case strings.HasSuffix(s, "/") || strings.ContainsRune(s, 0):
		return []Problem{{"control.socket", fmt.Errorf("%q: want the path of a socket file, such as /run/dnsward/control.sock", s)}}
	}
	return nil
}
