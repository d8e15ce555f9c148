package config

import (
	"slices"
	"testing"
)

// TestRestartOnlyReadsTheTags changes keys tagged reload:"restart" and
// others: only the tagged ones are named, a section by its own key.
func TestRestartOnlyReadsTheTags(t *testing.T) {
	old, err := loadYAML(t, "")
	if err != nil {
		t.Fatal(err)
	}
	cur := *old
	cur.Listen = []string{"127.0.0.1:53"}
	cur.QueryLog.File = "/tmp/q.log"
	cur.Limits.TCPTotal++
	cur.Limits.UpstreamInflight++ // applied by a reload
	cur.Cache.Size++              // applied by a reload
	cur.Metrics.Listen = "127.0.0.1:9153"
	want := []string{"limits.tcp_total", "listen", "metrics.listen", "querylog"}
	if got := RestartOnly(old, &cur); !slices.Equal(got, want) {
		t.Errorf("RestartOnly: %v, want %v", got, want)
	}
	if got := RestartOnly(old, old); len(got) != 0 {
		t.Errorf("RestartOnly of one configuration: %v", got)
	}
}
