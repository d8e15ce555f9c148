package querylog

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	spool := "/var/lib/dnsward/spool"
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"empty", Config{}, ""},
		{"full", Config{Format: "kv", File: "/x", MaxSize: 1, SpoolDir: spool,
			Syslog: []SyslogConfig{{Network: "tls", Address: "logs.lan:6514", InsecureSkipVerify: true}},
			HEC:    []HECConfig{{URL: "https://splunk.lan:8088", Token: "t"}}}, ""},
		{"format", Config{Format: "xml"}, `unknown format "xml"`},
		{"negative", Config{QueueSize: -1}, "must not be negative"},
		{"size without file", Config{MaxSize: 10}, "MaxSize or MaxAge is set but File is empty"},
		{"flush interval", Config{FlushInterval: MaxFlushInterval}, ""},
		{"flush interval negative", Config{FlushInterval: -1}, "FlushInterval -1ns is outside 0s to 1s"},
		{"flush interval too long", Config{FlushInterval: 2 * MaxFlushInterval}, "FlushInterval 2s is outside 0s to 1s"},
		{"network", Config{SpoolDir: spool, Syslog: []SyslogConfig{{Network: "udp4", Address: "h:514"}}}, `syslog[0]: unknown network "udp4"`},
		{"address", Config{SpoolDir: spool, Syslog: []SyslogConfig{{Network: "tcp", Address: "logs.lan"}}}, `syslog[0]: address "logs.lan"`},
		{"port", Config{SpoolDir: spool, Syslog: []SyslogConfig{{Network: "tcp", Address: "logs.lan:syslog"}}}, `bad port "syslog"`},
		{"tls option without tls", Config{SpoolDir: spool, Syslog: []SyslogConfig{{Network: "tcp", Address: "h:1", CAFile: "/ca"}}}, "need network tls"},
		{"app name", Config{SpoolDir: spool, Syslog: []SyslogConfig{{Network: "udp", Address: "h:1", AppName: "dns ward"}}}, "AppName"},
		{"duplicate", Config{SpoolDir: spool, Syslog: []SyslogConfig{{Network: "udp", Address: "h:1"}, {Network: "udp", Address: "h:1"}}}, "syslog[1]: duplicate collector"},
		{"hec scheme", Config{SpoolDir: spool, HEC: []HECConfig{{URL: "splunk.lan:8088", Token: "t"}}}, "hec[0]"},
		{"hec host", Config{SpoolDir: spool, HEC: []HECConfig{{URL: "https:///services", Token: "t"}}}, "has no host"},
		{"hec token", Config{SpoolDir: spool, HEC: []HECConfig{{URL: "https://s:8088"}}}, "hec[0]: Token is empty"},
		{"hec bad url", Config{SpoolDir: spool, HEC: []HECConfig{{URL: "http://[::1", Token: "t"}}}, "hec[0]: URL"},
		{"no spool", Config{HEC: []HECConfig{{URL: "https://s:8088", Token: "t"}}}, "SpoolDir is required"},
		{"dnstap", Config{SpoolDir: spool, Dnstap: []DnstapConfig{{Network: "unix", Address: "/run/tap.sock"}, {Network: "tcp", Address: "[::1]:6000"}, {Network: "file", Address: "/var/log/tap.fstrm"}}}, ""},
		{"dnstap network", Config{SpoolDir: spool, Dnstap: []DnstapConfig{{Network: "udp", Address: "h:1"}}}, `dnstap[0]: unknown network "udp"; want unix, tcp or file`},
		{"dnstap address", Config{SpoolDir: spool, Dnstap: []DnstapConfig{{Network: "tcp", Address: "h"}}}, `dnstap[0]: address "h"`},
		{"dnstap path", Config{SpoolDir: spool, Dnstap: []DnstapConfig{{Network: "unix"}}}, "dnstap[0]: address is empty; want a unix path"},
		{"dnstap duplicate", Config{SpoolDir: spool, Dnstap: []DnstapConfig{{Network: "file", Address: "/t"}, {Network: "file", Address: "/t"}}}, "dnstap[1]: duplicate collector"},
		{"dnstap no spool", Config{Dnstap: []DnstapConfig{{Network: "file", Address: "/t"}}}, "SpoolDir is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"invalid", Config{Format: "xml"}, "unknown format"},
		{"unwritable file", Config{File: filepath.Join(dir, "missing", "q.log")}, "open log file"},
		{"missing CA", Config{SpoolDir: dir, Syslog: []SyslogConfig{{Network: "tls", Address: "h:1", CAFile: filepath.Join(dir, "nope.pem")}}}, "CA file"},
		{"dnstap file unwritable", Config{SpoolDir: dir, Dnstap: []DnstapConfig{{Network: "file", Address: filepath.Join(dir, "missing", "tap.fstrm")}}}, "dnstap file"},
		{"CA not PEM", Config{SpoolDir: dir, HEC: []HECConfig{{URL: "https://h:1", Token: "t", CAFile: "config_test.go"}}}, "no PEM certificates"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
