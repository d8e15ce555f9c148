package querylog

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/dnsward/dnsward/config"
)

// FromConfig is the querylog section as New takes it; collectors spool
// under stateDir.
func FromConfig(q config.QueryLog, stateDir string) Config {
	out := Config{
		Format: q.Format, File: q.File, MaxSize: q.MaxSize, MaxAge: q.MaxAge, MaxBackups: q.MaxBackups,
		QueueSize: q.QueueSize, SpoolMax: q.SpoolMax, FlushInterval: q.FlushInterval,
	}
	if stateDir != "" {
		out.SpoolDir = filepath.Join(stateDir, "spool")
	}
	for _, s := range q.Syslog {
		out.Syslog = append(out.Syslog, SyslogConfig(s))
	}
	for _, h := range q.HEC {
		out.HEC = append(out.HEC, HECConfig(h))
	}
	for _, d := range q.Dnstap {
		out.Dnstap = append(out.Dnstap, DnstapConfig(d))
	}
	return out
}

// ConfigProblems is a config.Checker: what Validate finds in the querylog
// section, the flush interval by its own key.
func ConfigProblems(c *config.Config) []config.Problem {
	var ps []config.Problem
	q := FromConfig(c.QueryLog, c.StateDir)
	if f := q.FlushInterval; f < 0 || f > MaxFlushInterval {
		ps = append(ps, config.Problem{Key: "querylog.flush_interval", Err: fmt.Errorf("%v: want 0s to %v", f, MaxFlushInterval)})
		q.FlushInterval = 0 // told above, by its own key
	}
	// A bad dnstap entry is named by its own key, hence line, and left
	// out of the section's check so that it is not reported twice.
	var sound []DnstapConfig
	for i, d := range q.Dnstap {
		if err := d.Validate(); err != nil {
			ps = append(ps, config.Problem{Key: fmt.Sprintf("querylog.dnstap.%d", i), Err: err})
			continue
		}
		sound = append(sound, d)
	}
	q.Dnstap = sound
	if q.SpoolDir == "" && c.QueryLog.HasCollectors() {
		return ps // config says collectors need state_dir
	}
	if err := q.Validate(); err != nil {
		// The package names itself in every error; the key says it already.
		ps = append(ps, config.Problem{Key: "querylog", Err: errors.New(strings.ReplaceAll(err.Error(), "querylog: ", ""))})
	}
	return ps
}
