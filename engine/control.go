package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/dnsward/dnsward/answers"
)

// The control endpoint is read-only JSON over HTTP on a Unix socket
// (control.socket): never TCP, so that only local users the socket's mode
// lets in (root and the service user's group) can ask which names stand
// behind an address.

// WhoPath is the control endpoint's lookup: GET WhoPath?addr=IP[&at=T]
// [&client=IP], T in RFC 3339, answered with a WhoResponse.
const WhoPath = "/who"

// WhoEntry is one answer index entry as the control endpoint sends it.
type WhoEntry struct {
	Client     netip.Addr `json:"client"`
	MAC        string     `json:"mac,omitempty"`
	Host       string     `json:"host,omitempty"`
	Name       string     `json:"name"`
	Chain      []string   `json:"chain,omitempty"` // CNAME targets after name, in order
	FirstAsked time.Time  `json:"first_asked"`
	LastAsked  time.Time  `json:"last_asked"`
	ValidUntil time.Time  `json:"valid_until"`
}

// WhoResponse is the body of a WhoPath answer: Entries, or Error with a
// status other than 200.
type WhoResponse struct {
	Entries []WhoEntry `json:"entries"`
	Error   string     `json:"error,omitempty"`
	// From is "log" when the query log files answered, not the index.
	From string `json:"from,omitempty"`
}

// socketMode lets the socket's owner (the service user) and group connect:
// connecting needs write permission.
const socketMode = 0o660

// listenControl creates the control socket at path, replacing a socket
// left by a process that ended without removing it (a crash, a kill -9),
// but never one a running dnsward still answers on, nor another file.
func listenControl(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another process answers on it (is dnsward already running?)", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("control socket %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: removing the stale socket: %w", path, err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Created with the umask's mode; set the one asked for, whatever it is.
	if err := os.Chmod(path, socketMode); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return l, nil
}

// serveControl answers on l until ctx is done, then closes l, which
// removes the socket file.
func serveControl(ctx context.Context, l net.Listener, ix *answers.Index) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+WhoPath, func(w http.ResponseWriter, r *http.Request) { serveWho(w, r, ix) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return fmt.Errorf("control socket: %w", err)
	case <-ctx.Done():
	}
	srv.Close() // ends the open connections too; lookups take microseconds
	<-done
	return nil
}

// whoQuery is a WhoPath request's parameters.
type whoQuery struct {
	addr, client netip.Addr // client: invalid for every client
	at           time.Time  // zero: every entry held
}

// parseWho reads a WhoPath request.
func parseWho(r *http.Request) (whoQuery, error) {
	q := r.URL.Query()
	var w whoQuery
	var err error
	if w.addr, err = netip.ParseAddr(q.Get("addr")); err != nil {
		return w, fmt.Errorf("addr %q: not an IP address", q.Get("addr"))
	}
	w.addr = w.addr.Unmap()
	if s := q.Get("at"); s != "" {
		if w.at, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return w, fmt.Errorf("at %q: want an RFC 3339 time", s)
		}
	}
	if s := q.Get("client"); s != "" {
		if w.client, err = netip.ParseAddr(s); err != nil {
			return w, fmt.Errorf("client %q: not an IP address", s)
		}
		w.client = w.client.Unmap()
	}
	return w, nil
}

// replyWho writes resp with status.
func replyWho(w http.ResponseWriter, status int, resp WhoResponse) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(resp)
}

// serveWho answers one WhoPath request from ix, nil when the index is off.
func serveWho(w http.ResponseWriter, r *http.Request, ix *answers.Index) {
	q, err := parseWho(r)
	if err != nil {
		replyWho(w, http.StatusBadRequest, WhoResponse{Error: err.Error()})
		return
	}
	if ix == nil {
		replyWho(w, http.StatusServiceUnavailable, WhoResponse{Error: "the answer index is off (answers.enabled: false)"})
		return
	}
	var entries []answers.Entry
	if q.client.IsValid() {
		entries = ix.Lookup(q.client, q.addr, q.at)
	} else {
		entries = ix.Who(q.addr, q.at)
	}
	resp := WhoResponse{Entries: make([]WhoEntry, len(entries))}
	for i, e := range entries {
		resp.Entries[i] = WhoEntry{Client: e.Client.Unmap(), MAC: e.Device.MAC.String(), Host: e.Device.Host, Name: e.Name,
			Chain: e.Chain, FirstAsked: e.FirstAsked, LastAsked: e.LastAsked, ValidUntil: e.ValidUntil}
	}
	replyWho(w, http.StatusOK, resp)
}

// AskWho asks the control endpoint on the Unix socket at path which
// clients were given addr, for which names, valid at at (the zero time:
// every entry held); a valid client narrows it to that client's.
func AskWho(ctx context.Context, path string, addr, client netip.Addr, at time.Time) ([]WhoEntry, error) {
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	defer hc.CloseIdleConnections()
	q := url.Values{"addr": {addr.String()}}
	if !at.IsZero() {
		q.Set("at", at.Format(time.RFC3339Nano))
	}
	if client.IsValid() {
		q.Set("client", client.String())
	}
	// The host is a placeholder: the dialer ignores it.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://dnsward"+WhoPath+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		// The dial's error says it all; the placeholder URL would mislead.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	defer resp.Body.Close()
	var body WhoResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("control socket %s: %s: %w", path, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("control socket %s: %s", path, body.Error)
	}
	return body.Entries, nil
}

// openControl opens the control socket when control.socket is set; nil
// when it is not. Start calls it first, after privileges are dropped, so
// that the socket is the service user's and a failure leaves nothing
// running.
func (e *Engine) openControl() (net.Listener, error) {
	path := e.cfg.Control.Socket
	if path == "" {
		return nil, nil
	}
	l, err := listenControl(path)
	if err != nil {
		return nil, err
	}
	e.logger.Info("control socket", "path", path)
	return l, nil
}

// serveControlWork serves l, if not nil, as background work until the
// engine stops.
func (e *Engine) serveControlWork(l net.Listener) {
	if l == nil {
		return
	}
	e.wg.Go(func() {
		if err := serveControl(e.work, l, e.answers); err != nil {
			e.logger.Error("control", "err", err)
		}
	})
}
