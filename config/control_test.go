package config

import (
	"strings"
	"testing"
)

// TestControlSocket checks control.socket: off by default, set from the
// file or --control, a path too long for a Unix socket named with its line.
func TestControlSocket(t *testing.T) {
	long := "/run/" + strings.Repeat("d", 103) // 108 bytes: one past sun_path
	tests := []struct {
		name, yaml string
		args       []string
		want       string // the socket loaded
		err        string // or the error
	}{
		{"default off", "", nil, "", ""},
		{"file", "control:\n  socket: /run/dnsward/control.sock\n", nil, "/run/dnsward/control.sock", ""},
		{"flag", "", []string{"--control", "bin/control.sock"}, "bin/control.sock", ""},
		{"too long", "control:\n  socket: " + long + "\n", nil, "", ":2: control.socket: \"" + long + "\": a Unix socket path is at most 107 bytes, this one 108"},
		{"a directory", "control:\n  socket: /run/dnsward/\n", nil, "", ":2: control.socket: \"/run/dnsward/\": want the path of a socket file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadYAML(t, tt.yaml, tt.args...)
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
			case err != nil:
				t.Fatal(err)
			case cfg.Control.Socket != tt.want:
				t.Errorf("control.socket %q, want %q", cfg.Control.Socket, tt.want)
			}
		})
	}
}
