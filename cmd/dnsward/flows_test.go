package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/flows"
	"github.com/dnsward/dnsward/querylog"
	"github.com/miekg/dns"
)

var flowT0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// testFlow is a flow of client to dest at minute min of flowT0.
func testFlow(min int, client, dest string, proto flows.Proto, verdict flows.Verdict, attr flows.Attribution, repeats int, names ...flows.Name) flows.Flow {
	return flows.Flow{
		Time: flowT0.Add(time.Duration(min) * time.Minute), Client: netip.MustParseAddrPort(client), Dest: netip.MustParseAddrPort(dest),
		Proto: proto, Verdict: verdict, Attribution: attr, Names: names, Repeats: repeats,
	}
}

func testName(client, name string, chain ...string) flows.Name {
	return flows.Name{Client: netip.MustParseAddr(client), Name: name, Chain: chain,
		FirstAsked: flowT0.Add(-time.Hour), LastAsked: flowT0, ValidUntil: flowT0.Add(5 * time.Minute)}
}

// writeLog logs fs, with a DNS entry before each, through a real Logger
// into file in format, and gzips it when zip is set.
func writeLog(t *testing.T, file, format string, zip bool, fs []flows.Flow) []querylog.FlowRecord {
	t.Helper()
	l, err := querylog.New(querylog.Config{File: file, Format: format, SpoolDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var recs []querylog.FlowRecord
	for _, f := range fs {
		l.Log(querylog.Entry{Time: f.Time, Proto: "udp", Client: netip.AddrPortFrom(f.Client.Addr(), 5353),
			Question: dns.Question{Name: "example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}, Rcode: dns.RcodeNameError, Source: "cache"})
		r := flows.Record(f)
		l.LogFlow(r)
		r.V, r.Kind = querylog.FlowVersion, querylog.KindFlow
		recs = append(recs, r)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if zip {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(b)
		zw.Close()
		if err := os.WriteFile(file, z.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

// flowLogs writes a gzipped kv log and a json log of the same stream, as
// rotation would leave them.
func flowLogs(t *testing.T) []string {
	dir := t.TempDir()
	older, newer := filepath.Join(dir, "q.log.1.gz"), filepath.Join(dir, "q.log")
	shop := testName("10.0.0.5", "www.shop.example", "shop.cdn.example")
	writeLog(t, older, querylog.FormatKV, true, []flows.Flow{
		testFlow(0, "10.0.0.5:40001", "192.0.2.1:443", flows.ProtoTCP, flows.VerdictNew, flows.SameClient, 0, shop),
		testFlow(1, "10.0.0.5:40002", "198.51.100.7:443", flows.ProtoTCP, flows.VerdictNew, flows.NoLookup, 0),
		testFlow(2, "10.0.0.7:0", "198.51.100.9:0", flows.ProtoICMP, flows.VerdictLogged, flows.NoLookup, 0),
	})
	writeLog(t, newer, querylog.FormatJSON, false, []flows.Flow{
		testFlow(3, "10.0.0.5:40003", "198.51.100.7:443", flows.ProtoTCP, flows.VerdictNew, flows.NoLookup, 29),
		testFlow(4, "10.0.0.5:40004", "[2001:db8::25]:25", flows.ProtoTCP, flows.VerdictDropped, flows.OtherClient, 0,
			testName("10.0.0.9", "mx.mail.example")),
		testFlow(5, "10.0.0.5:40005", "192.0.2.1:443", flows.ProtoTCP, flows.VerdictNew, flows.SameClient, 4, shop),
		testFlow(6, "10.0.0.9:123", "192.0.2.53:123", flows.ProtoUDP, flows.VerdictNew, flows.SameClient, 0,
			testName("10.0.0.9", "ntp.example")),
		// Looked up once the window had passed: still unexplained.
		testFlow(7, "10.0.0.5:40006", "192.0.2.1:443", flows.ProtoTCP, flows.VerdictDropped, flows.NoLookup, 0),
	})
	return []string{older, newer}
}

func TestFlowsSummary(t *testing.T) {
	files := flowLogs(t)
	from := []string{"--from", files[0], "--from", files[1]}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"all", nil, `CLIENT 10.0.0.5: 37 flows, 31 unexplained, 3 destinations
ATTRIBUTION                DEST               PROTO  FLOWS  VERDICTS         FIRST                 LAST                  NAMES
no_lookup                  198.51.100.7:443   tcp    30     new=30           2026-11-23T09:01:00Z  2026-11-23T09:03:00Z  -
no_lookup=1 same_client=5  192.0.2.1:443      tcp    6      dropped=1 new=5  2026-11-23T09:00:00Z  2026-11-23T09:07:00Z  www.shop.example
other_client               [2001:db8::25]:25  tcp    1      dropped=1        2026-11-23T09:04:00Z  2026-11-23T09:04:00Z  mx.mail.example (10.0.0.9)

CLIENT 10.0.0.7: 1 flows, 1 unexplained, 1 destinations
ATTRIBUTION  DEST            PROTO  FLOWS  VERDICTS  FIRST                 LAST                  NAMES
no_lookup    198.51.100.9:0  icmp   1      logged=1  2026-11-23T09:02:00Z  2026-11-23T09:02:00Z  -

CLIENT 10.0.0.9: 1 flows, 0 unexplained, 1 destinations
ATTRIBUTION  DEST            PROTO  FLOWS  VERDICTS  FIRST                 LAST                  NAMES
same_client  192.0.2.53:123  udp    1      new=1     2026-11-23T09:06:00Z  2026-11-23T09:06:00Z  ntp.example
`},
		{"client address", []string{"--client", "10.0.0.9"}, `CLIENT 10.0.0.9: 1 flows, 0 unexplained, 1 destinations
ATTRIBUTION  DEST            PROTO  FLOWS  VERDICTS  FIRST                 LAST                  NAMES
same_client  192.0.2.53:123  udp    1      new=1     2026-11-23T09:06:00Z  2026-11-23T09:06:00Z  ntp.example
`},
		{"unexplained", []string{"--unexplained", "--client", "10.0.0.0/24", "--top", "0"}, `CLIENT 10.0.0.5: 31 flows, 31 unexplained, 2 destinations
ATTRIBUTION  DEST              PROTO  FLOWS  VERDICTS   FIRST                 LAST                  NAMES
no_lookup    198.51.100.7:443  tcp    30     new=30     2026-11-23T09:01:00Z  2026-11-23T09:03:00Z  -
no_lookup    192.0.2.1:443     tcp    1      dropped=1  2026-11-23T09:07:00Z  2026-11-23T09:07:00Z  -

CLIENT 10.0.0.7: 1 flows, 1 unexplained, 1 destinations
ATTRIBUTION  DEST            PROTO  FLOWS  VERDICTS  FIRST                 LAST                  NAMES
no_lookup    198.51.100.9:0  icmp   1      logged=1  2026-11-23T09:02:00Z  2026-11-23T09:02:00Z  -
`},
		{"since until", []string{"--since", "2026-11-23T09:04:00Z", "--until", "2026-11-23T09:06:00Z"}, `CLIENT 10.0.0.5: 5 flows, 0 unexplained, 2 destinations
ATTRIBUTION   DEST               PROTO  FLOWS  VERDICTS   FIRST                 LAST                  NAMES
other_client  [2001:db8::25]:25  tcp    1      dropped=1  2026-11-23T09:04:00Z  2026-11-23T09:04:00Z  mx.mail.example (10.0.0.9)
same_client   192.0.2.1:443      tcp    4      new=4      2026-11-23T09:05:00Z  2026-11-23T09:05:00Z  www.shop.example
`},
		{"top", []string{"--top", "1", "--client", "10.0.0.5"}, `CLIENT 10.0.0.5: 37 flows, 31 unexplained, 3 destinations
ATTRIBUTION  DEST              PROTO  FLOWS  VERDICTS  FIRST                 LAST                  NAMES
no_lookup    198.51.100.7:443  tcp    30     new=30    2026-11-23T09:01:00Z  2026-11-23T09:03:00Z  -
… 2 more destinations (--top 0 shows all)
`},
		{"nothing", []string{"--since", "2026-11-24T00:00:00Z"}, "no flow records\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append(append([]string{"flows"}, from...), tt.args...), &stdout, &stderr)
			if code != 0 || stderr.Len() > 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
			if stdout.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", stdout.String(), tt.want)
			}
		})
	}
}

func TestFlowsBadInput(t *testing.T) {
	files := flowLogs(t)
	bad := filepath.Join(t.TempDir(), "bad.log")
	if err := os.WriteFile(bad, []byte("{\"v\":1,\"kind\":\"flow\",\"dest\":\"nope\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args         []string
		code         int
		stdout, want string
	}{
		{[]string{"--from", files[1], "--client", "10.0.0.300"}, 1, "", `--client: client network "10.0.0.300"`},
		{[]string{"--from", files[1], "--since", "yesterday"}, 1, "", `--since: "yesterday": want RFC 3339`},
		{[]string{"--from", files[1], "--top", "-1"}, 1, "", "--top -1: want 0 (all) or more"},
		{[]string{"--from", files[1], "10.0.0.5"}, 2, "", `unexpected argument "10.0.0.5"`},
		{[]string{"--from", filepath.Join(t.TempDir(), "none.log")}, 1, "", "none.log: no such file"},
		// What could be read is shown; the malformed line is named.
		{[]string{"--from", bad, "--from", files[1], "--client", "10.0.0.9"}, 1, "CLIENT 10.0.0.9", "1 malformed lines skipped, first at " + bad + ":1"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"flows"}, tt.args...), &stdout, &stderr)
		if code != tt.code || !strings.HasPrefix(stdout.String(), tt.stdout) || (tt.stdout == "" && stdout.Len() > 0) || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d, stderr with %q", tt.args, code, stdout.String(), stderr.String(), tt.code, tt.want)
		}
	}
}
