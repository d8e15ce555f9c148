package engine

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dnsward/dnsward/answers"
)

// TestControlWho: an answer the engine gives is seen over the control
// socket, narrowed by client and time; the socket is 0660 and removed when
// the engine stops.
func TestControlWho(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "control.sock")
	t.Setenv("DNSWARD_CONTROL_SOCKET", sock)
	r := start(t)
	if got := r.answer(t, "www.example.test."); got != "192.0.2.1" {
		t.Fatalf("www.example.test.: %s", got)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("control socket mode %v, want a socket 0660", fi.Mode())
	}

	addr, local := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("127.0.0.1")
	got, err := AskWho(t.Context(), sock, addr, netip.Addr{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Client != local || got[0].Name != "www.example.test" ||
		!slices.Equal(got[0].Chain, []string{"web.example.test", "example.test"}) || !got[0].ValidUntil.After(got[0].LastAsked) {
		t.Fatalf("who 192.0.2.1: %+v", got)
	}
	asked := got[0].FirstAsked
	tests := []struct {
		name   string
		client netip.Addr
		at     time.Time
		want   int
	}{
		{"that client", local, time.Time{}, 1},
		{"another client", netip.MustParseAddr("127.0.0.2"), time.Time{}, 0},
		{"when it was valid", netip.Addr{}, asked.Add(time.Second), 1},
		{"before it was asked", netip.Addr{}, asked.Add(-time.Second), 0},
		{"past valid until", netip.Addr{}, got[0].ValidUntil.Add(time.Second), 0},
	}
	for _, tc := range tests {
		entries, err := AskWho(t.Context(), sock, addr, tc.client, tc.at)
		if err != nil || len(entries) != tc.want {
			t.Errorf("%s: %d entries (%v), want %d", tc.name, len(entries), err, tc.want)
		}
	}

	r.stop()
	if err := <-r.errc; err != nil {
		t.Fatal(err)
	}
	r.stop = nil
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the control socket outlived the engine: %v", err)
	}
}

// TestControlWhoErrors: a bad request, or the index off, is said.
func TestControlWhoErrors(t *testing.T) {
	ix := answers.New(answers.Options{})
	tests := []struct {
		query  string
		ix     *answers.Index
		status int
		want   string
	}{
		{"addr=192.0.2.1", ix, http.StatusOK, `"entries":[]`},
		{"addr=nonsense", ix, http.StatusBadRequest, `addr \"nonsense\": not an IP address`},
		{"addr=192.0.2.1&at=yesterday", ix, http.StatusBadRequest, "want an RFC 3339 time"},
		{"addr=192.0.2.1&client=x", ix, http.StatusBadRequest, `client \"x\": not an IP address`},
		{"addr=192.0.2.1", nil, http.StatusServiceUnavailable, "answers.enabled: false"},
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		serveWho(rec, httptest.NewRequest(http.MethodGet, WhoPath+"?"+tc.query, nil), tc.ix)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %s, want %d with %s", tc.query, rec.Code, rec.Body, tc.status, tc.want)
		}
	}
}

// TestListenControl: a socket left by a dead process is replaced; a live
// one, or a file that is not a socket, is refused with the path.
func TestListenControl(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	live, err := listenControl(stale)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	defer live.Close()
	if _, err := listenControl(stale); err == nil || !strings.Contains(err.Error(), stale+": another process answers on it") {
		t.Errorf("live socket: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := listenControl(file); err == nil || !strings.Contains(err.Error(), file+": exists and is not a socket") {
		t.Errorf("regular file: %v", err)
	}
}
