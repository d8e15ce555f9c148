package answers

import "github.com/dnsward/dnsward/config"

// FromConfig is the answers section as New takes it.
func FromConfig(a config.Answers) Options {
	return Options{MaxEntries: a.MaxEntries, Grace: a.Grace}
}
