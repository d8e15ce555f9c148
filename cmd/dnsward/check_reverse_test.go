package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check-config says which private reverse zones are forwarded though
// bogus_priv is on, and says nothing of it when none is.
func TestCheckConfigNamesForwardedPrivateReverse(t *testing.T) {
	dir := t.TempDir()
	const line = "private reverse zones forwarded despite local.bogus_priv: 3.2.10.in-addr.arpa."
	for _, tt := range []struct {
		yaml string
		want bool
	}{
		{"local:\n  bogus_priv: true\nforward_zones:\n  - domain: 3.2.10.in-addr.arpa\n    upstreams: [udp://127.0.0.1:5300]\n  - domain: corp.example\n    upstreams: [udp://127.0.0.1:5300]\n", true},
		{"local:\n  bogus_priv: false\nforward_zones:\n  - domain: 3.2.10.in-addr.arpa\n    upstreams: [udp://127.0.0.1:5300]\n", false},
		{"local:\n  bogus_priv: true\nforward_zones:\n  - domain: corp.example\n    upstreams: [udp://127.0.0.1:5300]\n", false},
	} {
		file := filepath.Join(dir, "dnsward.yaml")
		if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"check-config", "--config", file}, &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d:\n%s%s", code, stdout.String(), stderr.String())
		}
		if got := strings.Contains(stdout.String(), line); got != tt.want {
			t.Errorf("%s: output %q, want the forwarded zones line: %v", tt.yaml, stdout.String(), tt.want)
		}
	}
}
