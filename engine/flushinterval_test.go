package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/querylog"
)

// TestQueryLogFlushInterval checks querylog.flush_interval: the packaged
// default, 0s accepted, and values out of range named with file and line.
func TestQueryLogFlushInterval(t *testing.T) {
	tests := []struct {
		yaml    string
		want    time.Duration
		wantErr string
	}{
		{"", querylog.DefaultFlushInterval, ""},
		{"querylog:\n  flush_interval: 0s\n", 0, ""},
		{"querylog:\n  flush_interval: 250ms\n", 250 * time.Millisecond, ""},
		{"querylog:\n  flush_interval: -1ms\n", 0, ":2: querylog.flush_interval: -1ms: want 0s to 1s"},
		{"querylog:\n  format: json\n  flush_interval: 2s\n", 0, ":3: querylog.flush_interval: 2s: want 0s to 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			cfg, err := loadYAML(t, tt.yaml)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case cfg.QueryLog.FlushInterval != tt.want:
				t.Errorf("flush_interval %v, want %v", cfg.QueryLog.FlushInterval, tt.want)
			}
		})
	}
}
