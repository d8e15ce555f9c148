package answers

import (
	"testing"
	"time"

	"github.com/dnsward/dnsward/config"
)

func TestFromConfig(t *testing.T) {
	got := FromConfig(config.Answers{Enabled: true, MaxEntries: 1000, Grace: time.Minute})
	if got != (Options{MaxEntries: 1000, Grace: time.Minute}) {
		t.Errorf("FromConfig = %+v", got)
	}
}
