package config

import (
	"strings"
	"testing"
)

// TestControlSocket checks control.socket: off by default, set from the
// file or --control, a path too long for a Unix socket named with its line.
func TestControlSocket(t *testing.T) {
	long := "/run/" + strings.Repeat("d", 103) // 108 bytes: one past sun_path
	testKey(t, "control.socket", func(c *Config) string { return c.Control.Socket }, []keyCase{
		{"default off", "", nil, "", ""},
		{"file", "control:\n  socket: /run/dnsward/control.sock\n", nil, "/run/dnsward/control.sock", ""},
		{"flag", "", []string{"--control", "bin/control.sock"}, "bin/control.sock", ""},
		{"too long", "control:\n  socket: " + long + "\n", nil, "", ":2: control.socket: \"" + long + "\": a Unix socket path is at most 107 bytes, this one 108"},
		{"a directory", "control:\n  socket: /run/dnsward/\n", nil, "", ":2: control.socket: \"/run/dnsward/\": want the path of a socket file"},
	})
}
