package config

import (
	"strings"
	"testing"
)

// TestWebListen checks web.listen: off by default, loopback served as it
// is, any other address refused, naming its line, unless credentials are
// set, and a password hash without its user refused.
func TestWebListen(t *testing.T) {
	hash := "  password_hash: \"$2a$10$abcdefghijklmnopqrstuu5Jv0pGSRXCm7c0a0ZC3h1eTnZq2j1O\"\n"
	testKey(t, "web.listen", func(c *Config) string { return c.Web.Listen }, []keyCase{
		{"default off", "", nil, "", ""},
		{"loopback", "web:\n  listen: 127.0.0.1:8053\n", nil, "127.0.0.1:8053", ""},
		{"loopback v6 by flag", "", []string{"--web", "[::1]:8053"}, "[::1]:8053", ""},
		{"lan without credentials", "web:\n  listen: 192.168.1.2:8053\n", nil, "",
			`:2: web.listen: "192.168.1.2:8053" is not a loopback address: set web.password_hash (with web.user) or web.token`},
		{"every address without credentials", "web:\n  listen: :8053\n", nil, "", `:2: web.listen: ":8053" is not a loopback address`},
		{"flag without credentials", "", []string{"--web", "0.0.0.0:8053"}, "", `--web: web.listen: "0.0.0.0:8053" is not a loopback address`},
		{"lan with token", "web:\n  listen: 192.168.1.2:8053\n  token: s3cret\n", nil, "192.168.1.2:8053", ""},
		{"lan with password", "web:\n  listen: 192.168.1.2:8053\n  user: admin\n" + hash, nil, "192.168.1.2:8053", ""},
		{"hash without user", "web:\n  listen: 192.168.1.2:8053\n" + hash, nil, "", ":3: web.password_hash: needs web.user"},
		{"not an address", "web:\n  listen: localhost:8053\n", nil, "", ":2: web.listen: listen address \"localhost:8053\": host must be an IP address"},
	})
}

// keyCase is one case of a test of one key: a file and flags, and the
// value loaded or the error.
type keyCase struct {
	name, yaml string
	args       []string
	want       string // the key's value loaded
	err        string // or the error
}

// testKey loads each case and checks the key's value, read by get, or
// the error.
func testKey(t *testing.T, key string, get func(*Config) string, tests []keyCase) {
	t.Helper()
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
			case get(cfg) != tt.want:
				t.Errorf("%s %q, want %q", key, get(cfg), tt.want)
			}
		})
	}
}
