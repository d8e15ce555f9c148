package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/internal/testwait"
	"github.com/dnsward/dnsward/web"
	"golang.org/x/crypto/bcrypt"
)

// getJSON fetches path into v and returns the status.
func (s *site) getJSON(t *testing.T, path string, v any) int {
	t.Helper()
	resp, body := s.get(t, path, "")
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%s: %v: %s", path, err, body)
	}
	return resp.StatusCode
}

// TestAPI asks a running dnsward some questions, then reads every
// endpoint of the page's API over HTTP.
func TestAPI(t *testing.T) {
	s := startSite(t, "")
	for _, name := range []string{"example.test", "example.test", "mail.example.test", "ads.example.test"} {
		s.ask(t, name)
	}
	var top web.Top
	// The tally takes what is queued every 100 ms: wait for all four.
	testwait.Until(t, "the four queries in the top lists", func() bool {
		top = web.Top{}
		s.getJSON(t, "api/top?span=hour", &top)
		return len(top.Clients) > 0 && top.Clients[0].Count == 4
	})
	if top.Names[0].Count != 2 || len(top.Clients) != 1 || top.Clients[0].Key != "127.0.0.1" || top.Clients[0].Count != 4 {
		t.Errorf("top: %+v", top)
	}
	if len(top.Blocked) != 1 || top.Blocked[0] != (web.Count{Key: "ads.example.test", List: "config", Count: 1}) {
		t.Errorf("top blocked: %+v", top.Blocked)
	}

	var sum web.Summary
	s.getJSON(t, "api/summary", &sum)
	if sum.Queries != 4 || sum.Blocked != 1 || sum.Last.Queries != 4 || sum.Last.HitRatio != 1.0/3 || sum.Last.UpstreamCalls != 2 {
		t.Errorf("summary: %+v", sum)
	}
	var points []web.Point
	s.getJSON(t, "api/series?span=day", &points)
	if len(points) == 0 || points[len(points)-1].Queries != 4 {
		t.Errorf("day series: %+v", points)
	}

	var who struct {
		Entries []struct{ Client, Name string }
		From    string
	}
	s.getJSON(t, "api/who?addr=192.0.2.25", &who)
	if len(who.Entries) != 1 || who.Entries[0].Client != "127.0.0.1" || who.Entries[0].Name != "mail.example.test" || who.From != "" {
		t.Errorf("who 192.0.2.25: %+v", who)
	}

	var why web.Why
	s.getJSON(t, "api/why?name=ADS.example.test.&client=127.0.0.1", &why)
	if want := (web.Why{Name: "ads.example.test", Client: "127.0.0.1", Blocked: true, List: "config", Rule: "ads.example.test"}); why != want {
		t.Errorf("why: %+v, want %+v", why, want)
	}
	var spared web.Why
	s.getJSON(t, "api/why?name=ok.ads.example.test", &spared)
	if want := (web.Why{Name: "ok.ads.example.test", List: "config", Rule: "@@||ok.ads.example.test^"}); spared != want {
		t.Errorf("why ok.ads.example.test: %+v, want %+v", spared, want)
	}
	var notBlocked web.Why
	s.getJSON(t, "api/why?name=example.test", &notBlocked)
	if notBlocked != (web.Why{Name: "example.test"}) {
		t.Errorf("why example.test: %+v", notBlocked)
	}

	var client web.Client
	s.getJSON(t, "api/client?addr=127.0.0.1", &client)
	if len(client.Recent) != 4 || client.Recent[0].Name != "ads.example.test" || len(client.Blocked) != 1 || client.Blocked[0].BlockRule != "ads.example.test" {
		t.Errorf("client: %+v", client)
	}
}

// TestAPIRefuses checks the answers to bad requests: the parameter at
// fault named, writes refused, and the security headers on every answer.
func TestAPIRefuses(t *testing.T) {
	s := startSite(t, "")
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"api/who?addr=nope", 400, `addr \"nope\": not an IP address`},
		{"api/top?span=week", 400, `span \"week\": want hour or day`},
		{"api/top?n=0", 400, `n \"0\": want 1 to 1000`},
		{"api/client?addr=", 400, `addr \"\": not an IP address`},
		{"api/why", 400, `name: missing`},
		{"api/stream?client=x", 400, `client \"x\": not an IP address`},
		{"", 200, `<title>dnsward</title>`},
		{"app.js", 200, `"use strict"`},
	}
	for _, tt := range tests {
		resp, body := s.get(t, tt.path, "")
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %d %q, want %d with %q", tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
		for h, want := range map[string]string{
			"Content-Security-Policy": "default-src 'self'", "X-Content-Type-Options": "nosniff",
			"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		} {
			if got := resp.Header.Get(h); !strings.HasPrefix(got, want) {
				t.Errorf("%s: %s %q, want %q", tt.path, h, got, want)
			}
		}
	}
	resp, err := http.Post(s.url+"api/summary", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s, want 405", resp.Status)
	}
}

// TestStream reads the server-sent events: a query sent once the stream
// is open comes in, filtered by name suffix and source.
func TestStream(t *testing.T) {
	s := startSite(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"api/stream?suffix=example.test&source=blocked", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	// The summary comes first: the stream is subscribed by then.
	for lines.Scan() && lines.Text() != "event: summary" {
	}
	s.ask(t, "mail.example.test") // not blocked: filtered out
	s.ask(t, "ads.example.test")
	var got []string
	for lines.Scan() {
		if line, ok := strings.CutPrefix(lines.Text(), "data: "); ok && strings.Contains(line, `"name"`) {
			var ev web.Event
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			got = append(got, ev.Name+" "+ev.Source+" "+ev.BlockRule)
			break
		}
	}
	if len(got) != 1 || got[0] != "ads.example.test blocked ads.example.test" {
		t.Errorf("stream: %q (%v)", got, lines.Err())
	}
}

// TestWhoFromLog turns the answer index off: "who is this IP" reads the
// query log files instead.
func TestWhoFromLog(t *testing.T) {
	s := startSite(t, "answers:\n  enabled: false\n")
	s.ask(t, "mail.example.test")
	var who struct {
		Entries []struct{ Client, Name string }
		From    string
	}
	testwait.Until(t, "the query log to hold the answer", func() bool {
		return s.getJSON(t, "api/who?addr=192.0.2.25", &who) == 200 && len(who.Entries) > 0
	})
	if len(who.Entries) != 1 || who.Entries[0].Client != "127.0.0.1" || who.Entries[0].Name != "mail.example.test" || who.From != "log" {
		t.Errorf("who from the log: %+v", who)
	}
}

// TestCredentials serves with a token and a password: every request
// without them, or with wrong ones, gets 401.
func TestCredentials(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pass word"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	s := startSite(t, "  user: admin\n  password_hash: \""+string(hash)+"\"\n  token: tok3n\n")
	basic := func(user, pass string) string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, pass)
		return req.Header.Get("Authorization")
	}
	tests := []struct {
		name, auth string
		status     int
	}{
		{"none", "", 401},
		{"token", "Bearer tok3n", 200},
		{"wrong token", "Bearer tok3", 401},
		{"password", basic("admin", "pass word"), 200},
		{"password again", basic("admin", "pass word"), 200},
		{"wrong password", basic("admin", "pass"), 401},
		{"wrong user", basic("root", "pass word"), 401},
	}
	for _, tt := range tests {
		for _, path := range []string{"", "api/summary"} {
			resp, _ := s.get(t, path, tt.auth)
			if resp.StatusCode != tt.status {
				t.Errorf("%s /%s: %s, want %d", tt.name, path, resp.Status, tt.status)
			}
			if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("%s: no WWW-Authenticate", tt.name)
			}
		}
	}
}

// TestConfigRefused checks that a listener off loopback needs credentials
// and a password hash must be bcrypt's.
func TestConfigRefused(t *testing.T) {
	tests := []struct{ extra, err string }{
		{"  listen: 0.0.0.0:8053\n", `web.listen: "0.0.0.0:8053" is not a loopback address: set web.password_hash`},
		{"  listen: 0.0.0.0:8053\n  token: x\n", ""},
		{"  user: a\n  password_hash: secret\n", "web.password_hash: not a bcrypt hash"},
	}
	for _, tt := range tests {
		_, _, err := loadConfig(t, t.TempDir(), "udp://127.0.0.1:53", tt.extra)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%q: %v, want %q", tt.extra, err, tt.err)
		}
	}
}

// TestClientFlows turns the syslog flow source on: the client's page
// lists its flow records, the unexplained one first.
func TestClientFlows(t *testing.T) {
	s := startSite(t, flowsYAML)
	s.ask(t, "mail.example.test")
	var client web.Client
	// The answer index is fed after the response is sent.
	testwait.Until(t, "the answer indexed", func() bool {
		var who struct{ Entries []struct{} }
		s.getJSON(t, "api/who?addr=192.0.2.25", &who)
		return len(who.Entries) == 1
	})
	s.firewall(t, "SRC=127.0.0.1 DST=192.0.2.25 PROTO=TCP SPT=40001 DPT=25", "SRC=127.0.0.1 DST=198.51.100.7 PROTO=TCP SPT=40003 DPT=443")
	testwait.Until(t, "two flow records", func() bool {
		// Decoded afresh: into the last poll's slice, a no_lookup record
		// (names omitted) would keep the names of the record before it.
		client = web.Client{}
		s.getJSON(t, "api/client?addr=127.0.0.1", &client)
		return len(client.Flows) == 2
	})
	var got []string
	for _, f := range client.Flows {
		got = append(got, fmt.Sprintf("%s %s %s %s %v", f.Dest, f.Proto, f.Verdict, f.Attribution, f.Names))
	}
	want := []string{"198.51.100.7:443 tcp dropped no_lookup []", "192.0.2.25:25 tcp dropped same_client [mail.example.test]"}
	if !slices.Equal(got, want) {
		t.Errorf("flows:\n%q\nwant\n%q", got, want)
	}
}
