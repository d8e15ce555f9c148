package blocklists

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// listServer serves one list over HTTP on 127.0.0.1 and records what
// conditional requests it saw.
type listServer struct {
	*httptest.Server

	mu          sync.Mutex
	body, etag  string
	status      int // 0 = serve the list
	requests    int
	notModified int      // 304s served
	seen        []string // If-None-Match of each request
	hit         chan struct{}
}

func newListServer(t *testing.T) *listServer {
	s := &listServer{hit: make(chan struct{}, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *listServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.seen = append(s.seen, r.Header.Get("If-None-Match"))
	defer func() { s.hit <- struct{}{} }()
	switch {
	case s.status != 0:
		http.Error(w, "broken", s.status)
	case s.etag != "" && r.Header.Get("If-None-Match") == s.etag:
		s.notModified++
		w.WriteHeader(http.StatusNotModified)
	default:
		w.Header().Set("ETag", s.etag)
		fmt.Fprint(w, s.body)
	}
}

func (s *listServer) set(body, etag string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.etag, s.status = body, etag, status
}

func (s *listServer) counts() (requests, notModified int, lastIfNoneMatch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.notModified, s.seen[len(s.seen)-1]
}

// checkBlocked fails the test unless each name's blocked state is as given.
func checkBlocked(t *testing.T, m *Manager, want map[string]bool) {
	t.Helper()
	for name, blocked := range want {
		if match, got := m.Blocked(name); got != blocked {
			t.Errorf("Blocked(%q) = %+v, %v; want %v", name, match, got, blocked)
		}
	}
}

func TestURLSourceLifecycle(t *testing.T) {
	ctx := t.Context()
	srv := newListServer(t)
	srv.set("0.0.0.0 v1.example.com\n", `"v1"`, 0)
	cfg := Config{
		Sources:  []Source{{Name: "remote", URL: srv.URL + "/hosts.txt"}},
		StateDir: t.TempDir(),
	}
	m, err := New(cfg, nil, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	// New stays off the network, and nothing is cached yet.
	checkBlocked(t, m, map[string]bool{"v1.example.com": false})

	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	checkBlocked(t, m, map[string]bool{"v1.example.com": true})

	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, notModified, inm := srv.counts(); notModified != 1 || inm != `"v1"` {
		t.Errorf("server saw If-None-Match %q and served %d 304s, want %q and 1", inm, notModified, `"v1"`)
	}
	checkBlocked(t, m, map[string]bool{"v1.example.com": true})

	srv.set("||v2.example.com^\n", `"v2"`, 0)
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	checkBlocked(t, m, map[string]bool{"v1.example.com": false, "v2.example.com": true})

	failures := []struct {
		body   string
		status int
		want   string
	}{
		{status: http.StatusInternalServerError, want: "500"},
		{body: "<html>\n<body>captive portal</body>\n", want: "rejected"},
		{body: "# only comments\n", want: "no rules"},
	}
	for _, f := range failures {
		srv.set(f.body, `"bad"`, f.status)
		err := m.Reload(ctx)
		if err == nil || !strings.Contains(err.Error(), "blocklist remote") || !strings.Contains(err.Error(), f.want) {
			t.Errorf("Reload with %d %q: error %v, want it to name the source and contain %q", f.status, f.body, err, f.want)
		}
		checkBlocked(t, m, map[string]bool{"v2.example.com": true})
		if st := m.Stats().Lists[1]; st.Rules != 1 || st.Err == nil {
			t.Errorf("Stats after failure = %+v, want the old rule and the error", st)
		}
	}

	// A restart with the server gone starts from the state-dir copy.
	srv.Close()
	m2, err := New(cfg, nil, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	checkBlocked(t, m2, map[string]bool{"v2.example.com": true})
	if err := m2.Reload(ctx); err == nil || !strings.Contains(err.Error(), "blocklist remote") {
		t.Errorf("Reload with the server down: error %v, want one naming the source", err)
	}
	checkBlocked(t, m2, map[string]bool{"v2.example.com": true})
}

func TestURLSourceSizeCap(t *testing.T) {
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line := []byte("0.0.0.0 forever.example.com\n")
		for r.Context().Err() == nil {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	}))
	defer endless.Close()
	m, err := New(Config{
		Sources: []Source{{Name: "endless", URL: endless.URL}},
		MaxSize: 1 << 20,
	}, nil, endless.Client())
	if err != nil {
		t.Fatal(err)
	}
	err = m.Reload(t.Context())
	if !errors.Is(err, errTooLarge) || !strings.Contains(err.Error(), "blocklist endless") {
		t.Errorf("Reload of an endless list: error %v, want too large naming the source", err)
	}
	checkBlocked(t, m, map[string]bool{"forever.example.com": false})
}

func TestRunRefreshes(t *testing.T) {
	srv := newListServer(t)
	srv.set("v1.example.com\n", `"v1"`, 0)
	m, err := New(Config{
		Sources:         []Source{{Name: "remote", URL: srv.URL}},
		RefreshInterval: time.Millisecond,
	}, nil, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	waitHits := func(n int) {
		t.Helper()
		for range n {
			select {
			case <-srv.hit:
			case <-time.After(10 * time.Second): // a hang guard, not a timing assertion
				t.Fatal("Run did not refresh")
			}
		}
	}
	// Run publishes before it waits, so by the second request the first is in force.
	waitHits(2)
	checkBlocked(t, m, map[string]bool{"v1.example.com": true})
	srv.set("v2.example.com\n", `"v2"`, 0)
	waitHits(2)
	checkBlocked(t, m, map[string]bool{"v1.example.com": false, "v2.example.com": true})
	cancel()
	<-done
}

func TestReloadFileKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "local.txt", "good.example.com\n")
	m, err := New(Config{Sources: []Source{{Name: "local", Path: path}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkBlocked(t, m, map[string]bool{"good.example.com": true})

	writeFile(t, dir, "local.txt", "good.example.com\nnew.example.com\nbad name\n")
	err = m.Reload(t.Context())
	if err == nil || !strings.Contains(err.Error(), "blocklist "+path+":3: ") {
		t.Errorf("Reload with a bad line: error %v, want it reported as %s:3", err, path)
	}
	checkBlocked(t, m, map[string]bool{"good.example.com": true, "new.example.com": true})

	writeFile(t, dir, "local.txt", "bad name\nworse name\n")
	if err := m.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("Reload of a junk file: error %v, want rejected", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "blocklist local") {
		t.Errorf("Reload of a missing file: error %v, want one naming the source", err)
	}
	checkBlocked(t, m, map[string]bool{"good.example.com": true, "new.example.com": true})
}

// TestReloadIsAtomic runs lookups during reloads; with -race it also checks
// that the swap publishes a fully built matcher.
func TestReloadIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "local.txt", "always.example.com\n")
	m, err := New(Config{Sources: []Source{{Name: "local", Path: path}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, ok := m.Blocked("x.always.example.com"); !ok {
					errs <- "lookup during reload missed a rule present in every version"
					return
				}
			}
		})
	}
	for i := range 50 {
		writeFile(t, dir, "local.txt", fmt.Sprintf("always.example.com\nv%d.example.com\n", i))
		if err := m.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no name", Config{Sources: []Source{{Path: "x"}}}, "no name"},
		{"duplicate", Config{Sources: []Source{{Name: "a", Path: "x"}, {Name: "a", Path: "y"}}}, "duplicate"},
		{"reserved", Config{Sources: []Source{{Name: InlineList, Path: "x"}}}, "reserved"},
		{"both", Config{Sources: []Source{{Name: "a", Path: "x", URL: "http://127.0.0.1/"}}}, "exactly one"},
		{"neither", Config{Sources: []Source{{Name: "a"}}}, "exactly one"},
		{"scheme", Config{Sources: []Source{{Name: "a", URL: "ftp://127.0.0.1/x"}}}, "not http"},
		{"interval", Config{RefreshInterval: -time.Second}, "negative"},
		{"inline", Config{Inline: []string{"ok.example.com", "not ok"}}, "config:2"},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg, nil, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New error %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
}
