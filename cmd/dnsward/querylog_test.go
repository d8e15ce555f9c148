package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dnsward/dnsward/answers"
	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// TestQueryLogAttributesEveryRecord has 200 clients ask at once for
// distinct names whose answers share one IP and one CNAME target, rotates
// the log mid-run, and checks every record against what each client asked:
// nothing lost, nothing misattributed.
func TestQueryLogAttributesEveryRecord(t *testing.T) {
	ts := testserver.ForTest(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "queries.log")
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--upstream", ts.Stamp, "--querylog", logFile)
	// Generous upstream bounds: this test is about attribution, and a
	// loaded CI machine must not turn its answers into SERVFAILs.
	cmd.Env = append(os.Environ(), "DNSWARD_RATE_LIMIT_QPS=0", "DNSWARD_UPSTREAM_TIMEOUT=3s", "DNSWARD_QUERY_TIMEOUT=4s")
	lines, addr, _ := startServing(t, cmd)

	const clients, rounds = 200, 4
	// asked is one query as its client saw it: a SERVFAIL under load is a
	// fair answer, and must be logged as one.
	type asked struct {
		qname, client, rcode string
		answers              int
	}
	var mu sync.Mutex
	var want []asked
	var wg sync.WaitGroup
	for round := range rounds {
		if round == rounds/2 {
			// logrotate's move-then-signal, while queries are in flight.
			wg.Go(func() {
				os.Rename(logFile, logFile+".1")
				cmd.Process.Signal(syscall.SIGUSR1)
			})
		}
		for i := range clients {
			wg.Go(func() {
				zone := "shared.test."
				if i%2 == 1 {
					zone = "direct.test."
				}
				qname := fmt.Sprintf("c%d-r%d.%s", i, round, zone)
				conn, err := net.Dial("udp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				co := &dns.Conn{Conn: conn}
				co.SetDeadline(time.Now().Add(5 * time.Second))
				if err := co.WriteMsg(new(dns.Msg).SetQuestion(qname, dns.TypeA)); err != nil {
					t.Error(err)
					return
				}
				r, err := co.ReadMsg()
				if err != nil {
					t.Errorf("%s: %v", qname, err)
					return
				}
				mu.Lock()
				want = append(want, asked{strings.TrimSuffix(qname, "."), conn.LocalAddr().String(), dns.RcodeToString[r.Rcode], len(r.Answer)})
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, lines, "msg=stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}

	fi, err := os.Stat(logFile)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("log file mode: %v %v, want 0640", fi.Mode(), err)
	}
	records := map[string][]querylog.Record{}
	for _, f := range []string{logFile + ".1", logFile} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			r, err := querylog.ParseLine(sc.Bytes())
			if err != nil {
				t.Fatalf("%s: unparsable line %q: %v", f, sc.Text(), err)
			}
			records[r.QName] = append(records[r.QName], r)
		}
	}
	if len(want) != clients*rounds {
		t.Fatalf("%d queries answered, want %d", len(want), clients*rounds)
	}
	answered := 0
	for _, a := range want {
		rs := records[a.qname]
		if len(rs) != max(a.answers, 1) {
			t.Errorf("%s: %d records for %d answers", a.qname, len(rs), a.answers)
			continue
		}
		for _, r := range rs {
			client := net.JoinHostPort(r.Client.String(), fmt.Sprint(r.ClientPort))
			if client != a.client || r.QID != rs[0].QID || r.Rcode != a.rcode || r.Proto != "udp" {
				t.Errorf("%s: record %+v, want client %s rcode %s", a.qname, r, a.client, a.rcode)
			}
		}
		if a.answers == 0 {
			continue
		}
		answered++
		shared := strings.HasSuffix(a.qname, ".shared.test")
		last := rs[len(rs)-1]
		wantChain := []string{a.qname}
		if shared {
			wantChain = append(wantChain, strings.TrimSuffix(testserver.SharedEdge, "."))
		}
		if last.Type != "A" || last.Data != testserver.SharedAddr || !slices.Equal(last.Chain, wantChain) {
			t.Errorf("%s: answer record %+v, want A %s via %v", a.qname, last, testserver.SharedAddr, wantChain)
		}
	}
	if answered < len(want)*9/10 {
		t.Errorf("only %d of %d queries answered", answered, len(want))
	}
	// "Which clients asked for a name behind this IP?" has every answer.
	var who bytes.Buffer
	if code := run(context.Background(), []string{"querylog", "who", testserver.SharedAddr, "--from", logFile + ".1", "--from", logFile}, &who, &who); code != 0 {
		t.Fatalf("who: %s", who.String())
	}
	for _, a := range want[:20] {
		if a.answers > 0 && !strings.Contains(who.String(), a.qname) {
			t.Errorf("who %s lacks %s", testserver.SharedAddr, a.qname)
		}
	}
	// export --domain gives exactly the records under the domain: each
	// direct.test query's records, in both files, and nothing else.
	var export bytes.Buffer
	if code := run(context.Background(), []string{"querylog", "export", "--from", logFile + ".1", "--from", logFile,
		"--domain", "direct.test", "--format", "kv"}, &export, &export); code != 0 {
		t.Fatalf("export: %s", export.String())
	}
	exported := map[string]int{}
	for line := range strings.Lines(export.String()) {
		r, err := querylog.ParseLine([]byte(strings.TrimSuffix(line, "\n")))
		if err != nil {
			t.Fatalf("export --domain direct.test: unparsable line %q: %v", line, err)
		}
		exported[r.QName]++
	}
	direct := 0
	for _, a := range want {
		if !strings.HasSuffix(a.qname, ".direct.test") {
			continue
		}
		direct++
		if exported[a.qname] != len(records[a.qname]) {
			t.Errorf("export --domain direct.test: %d records of %s, want %d", exported[a.qname], a.qname, len(records[a.qname]))
		}
		delete(exported, a.qname)
	}
	if direct != clients*rounds/2 || len(exported) > 0 {
		t.Errorf("export --domain direct.test: %d direct.test queries checked, want %d; names not asked for: %v", direct, clients*rounds/2, exported)
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2024, 5, 10, 12, 30, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"2024-05-01T13:00:00Z", time.Date(2024, 5, 1, 13, 0, 0, 0, time.UTC)},
		{"2024-05-01T13:00:00+02:00", time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC)},
		{"2024-05-01", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)},
		{"30m", now.Add(-30 * time.Minute)},
		{"1h", now.Add(-time.Hour)},
		{"2d", time.Date(2024, 5, 8, 12, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseWhen(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"yesterday", "-1h", "2024-13-01", "d", "1.5d"} {
		_, err := parseWhen(bad, now)
		if err == nil || !strings.Contains(err.Error(), "RFC 3339") || !strings.Contains(err.Error(), "2d") {
			t.Errorf("parseWhen(%q): error %v, want one listing the accepted forms", bad, err)
		}
	}
}

// TestQueryLogBadArguments checks that a bad time or address is refused
// with an error saying what is accepted, not Go's internals.
func TestQueryLogBadArguments(t *testing.T) {
	log := filepath.Join(t.TempDir(), "q.log")
	os.WriteFile(log, nil, 0o600)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"querylog", "who", "notanip", "--from", log}, "dnsward querylog: notanip: not an IP address\n"},
		{[]string{"querylog", "who", "192.0.2.1", "--from", log, "--at", "soon"},
			`dnsward querylog: --at: "soon": want RFC 3339 (2024-05-01T13:00:00Z), a local date (2024-05-01) or a time ago (30m, 1h, 2d)` + "\n"},
		{[]string{"querylog", "who", "192.0.2.1", "--from", log, "--grace", "-1m"}, "dnsward querylog: --grace -1m0s: must not be negative\n"},
		{[]string{"querylog", "export", "--from", log, "--client", "a b"},
			`dnsward querylog: --client: "a b": want an address, a CIDR (192.168.0.0/16), a MAC (aa:bb:cc:dd:ee:ff) or a hostname` + "\n"},
		{[]string{"querylog", "who", "192.0.2.1", "--from", log, "--client", "10.0.0.300"},
			`dnsward querylog: --client: client network "10.0.0.300": want a CIDR such as 192.168.0.0/16` + "\n"},
		{[]string{"querylog", "export", "--from", log, "--since", "yesterday"},
			`dnsward querylog: --since: "yesterday": want RFC 3339 (2024-05-01T13:00:00Z), a local date (2024-05-01) or a time ago (30m, 1h, 2d)` + "\n"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tt.args, &stdout, &stderr); code != 1 || stderr.String() != tt.want {
			t.Errorf("%v: exit %d, stderr %q; want 1, %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}

func TestParseClient(t *testing.T) {
	mac := answers.MAC{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	tests := []struct {
		in   string
		want querylog.ClientMatch
		err  bool
	}{
		{"", querylog.ClientMatch{}, false},
		{"10.0.0.5", querylog.ClientMatch{Prefix: netip.MustParsePrefix("10.0.0.5/32")}, false},
		{"10.0.0.0/8", querylog.ClientMatch{Prefix: netip.MustParsePrefix("10.0.0.0/8")}, false},
		{"fd00::/8", querylog.ClientMatch{Prefix: netip.MustParsePrefix("fd00::/8")}, false},
		{"fe80::1", querylog.ClientMatch{Prefix: netip.MustParsePrefix("fe80::1/128")}, false},
		{"aa:bb:cc:dd:ee:ff", querylog.ClientMatch{MAC: mac}, false},
		{"AA-BB-CC-DD-EE-FF", querylog.ClientMatch{MAC: mac}, false},
		{"kitchen-laptop", querylog.ClientMatch{Host: "kitchen-laptop"}, false},
		{"Laptop.lan", querylog.ClientMatch{Host: "Laptop.lan"}, false},
		{"00:00:00:00:00:00", querylog.ClientMatch{}, true},
		{"10.0.0.300", querylog.ClientMatch{}, true},
		{"10.0.0.0/33", querylog.ClientMatch{}, true},
		{"my laptop", querylog.ClientMatch{}, true},
		{"a..b", querylog.ClientMatch{}, true},
	}
	for _, tt := range tests {
		got, err := parseClient(tt.in)
		if (err != nil) != tt.err || err == nil && got != tt.want {
			t.Errorf("parseClient(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// querylog who says until when each answer was valid, takes --at and
// --grace, and who and export take a device for --client.
func TestQueryLogWhoDevices(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	rec := func(sec int, mac, host, qname string) querylog.Record {
		return querylog.Record{V: 1, Time: t0.Add(time.Duration(sec) * time.Second), QID: "q", Proto: "udp",
			Client: netip.MustParseAddr("192.168.1.23"), ClientMAC: mac, ClientHost: host, QName: qname, QType: "A",
			Rcode: "NOERROR", Source: "upstream", Name: qname, Type: "A", Data: "192.0.2.80", TTL: 60, Chain: []string{qname}}
	}
	var b []byte
	for _, r := range []querylog.Record{
		rec(0, "aa:bb:cc:dd:ee:01", "laptop", "mail.example"),
		rec(86400, "aa:bb:cc:dd:ee:02", "phone", "video.example"), // a day later DHCP gave .23 to the phone
	} {
		b = querylog.AppendLine(b, querylog.FormatKV, &r)
	}
	log := filepath.Join(t.TempDir(), "q.log")
	os.WriteFile(log, b, 0o600)
	tests := []struct {
		args []string
		want []string // each row's fields after FIRST and LAST, joined by spaces
	}{
		{nil, []string{
			"2026-11-23T09:06:00.000Z 1 192.168.1.23 aa:bb:cc:dd:ee:01 laptop mail.example mail.example",
			"2026-11-24T09:06:00.000Z 1 192.168.1.23 aa:bb:cc:dd:ee:02 phone video.example video.example",
		}},
		{[]string{"--at", "2026-11-23T09:05:00Z"}, []string{"2026-11-23T09:06:00.000Z 1 192.168.1.23 aa:bb:cc:dd:ee:01 laptop mail.example mail.example"}},
		{[]string{"--at", "2026-11-23T09:05:00Z", "--grace", "1m"}, nil},
		{[]string{"--grace", "0s", "--client", "phone"}, []string{"2026-11-24T09:01:00.000Z 1 192.168.1.23 aa:bb:cc:dd:ee:02 phone video.example video.example"}},
		{[]string{"--client", "AA:BB:CC:DD:EE:01"}, []string{"2026-11-23T09:06:00.000Z 1 192.168.1.23 aa:bb:cc:dd:ee:01 laptop mail.example mail.example"}},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		args := append([]string{"querylog", "who", "192.0.2.80", "--from", log}, tt.args...)
		if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		var got []string
		for _, l := range lines[1:] {
			got = append(got, strings.Join(strings.Fields(l)[2:], " "))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%v:\n%s\nwant rows ending:\n%s", tt.args, stdout.String(), strings.Join(tt.want, "\n"))
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"querylog", "export", "--from", log, "--client", "phone"}, &stdout, &stderr); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != 1 || !strings.Contains(stdout.String(), `"client_host":"phone"`) {
		t.Errorf("export --client phone:\n%s", stdout.String())
	}
}
