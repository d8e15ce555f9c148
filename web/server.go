package web

import (
	"crypto/sha256"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

//go:embed static
var static embed.FS

// The stream sends queries every streamEvery, streamBatch at most, and
// the dashboard's figures every summaryEvery.
const (
	streamEvery  = 250 * time.Millisecond
	streamBatch  = 64
	summaryEvery = 5 * time.Second
)

// Handler serves the page and the API, GET only, behind the credentials
// when there are any, with security headers on every answer.
func (w *Web) Handler() http.Handler {
	mux := http.NewServeMux()
	files, _ := fs.Sub(static, "static")
	mux.Handle("GET /", http.FileServerFS(files))
	mux.HandleFunc("GET /api/summary", w.serveSummary)
	mux.HandleFunc("GET /api/series", w.serveSeries)
	mux.HandleFunc("GET /api/top", w.serveTop)
	mux.HandleFunc("GET /api/client", w.serveClient)
	mux.HandleFunc("GET /api/why", w.serveWhy)
	mux.HandleFunc("GET /api/who", func(rw http.ResponseWriter, r *http.Request) { w.src.Who(rw, r) })
	mux.HandleFunc("GET /api/stream", w.serveStream)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if !w.authorized(r) {
			h.Set("WWW-Authenticate", `Basic realm="dnsward", charset="UTF-8"`)
			http.Error(rw, "authentication required", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(rw, r)
	})
}

// authorized checks the bearer token or the basic credentials, when the
// configuration has any.
func (w *Web) authorized(r *http.Request) bool {
	if w.cfg.Token == "" && w.cfg.PasswordHash == nil {
		return true
	}
	auth := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(auth, "Bearer "); ok && w.cfg.Token != "" {
		return equal([]byte(tok), []byte(w.cfg.Token))
	}
	user, pass, ok := r.BasicAuth()
	if !ok || w.cfg.PasswordHash == nil {
		return false
	}
	digest := sha256.Sum256([]byte(auth))
	if last := w.verified.Load(); last != nil && equal(last[:], digest[:]) {
		return true
	}
	if !equal([]byte(user), []byte(w.cfg.User)) || bcrypt.CompareHashAndPassword(w.cfg.PasswordHash, []byte(pass)) != nil {
		return false
	}
	w.verified.Store(&digest)
	return true
}

// reply writes v as JSON with status.
func reply(rw http.ResponseWriter, status int, v any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	json.NewEncoder(rw).Encode(v)
}

// apiError is the body of every answer other than 200.
type apiError struct {
	Error string `json:"error"`
}

// Summary is the dashboard's figures.
type Summary struct {
	Started time.Time `json:"started"`
	// Queries is the count since start; Last is the last minute's figures.
	Queries uint64 `json:"queries"`
	Blocked uint64 `json:"blocked"`
	Last    Point  `json:"last"`
	// Dropped is the queries the page's tally had no room for.
	Dropped uint64 `json:"dropped"`
}

// summary is the figures now, the last point over the last minute.
func (w *Web) summary() (Summary, error) {
	t, err := w.src.Totals()
	if err != nil {
		return Summary{}, err
	}
	now := snapshot{w.now(), t}
	s := Summary{Started: w.started, Queries: t.Queries, Blocked: t.Blocked, Dropped: w.dropped.Load()}
	s.Last = w.series.since(now.at.Add(-time.Minute), now)
	return s, nil
}

func (w *Web) serveSummary(rw http.ResponseWriter, _ *http.Request) {
	s, err := w.summary()
	if err != nil {
		reply(rw, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	reply(rw, http.StatusOK, s)
}

// span reads ?span=hour|day.
func span(r *http.Request) (day bool, err error) {
	switch s := r.URL.Query().Get("span"); s {
	case "", "hour":
		return false, nil
	case "day":
		return true, nil
	default:
		return false, fmt.Errorf("span %q: want hour or day", s)
	}
}

func (w *Web) serveSeries(rw http.ResponseWriter, r *http.Request) {
	day, err := span(r)
	if err != nil {
		reply(rw, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	t, err := w.src.Totals()
	if err != nil {
		reply(rw, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	reply(rw, http.StatusOK, w.series.points(day, snapshot{w.now(), t}))
}

func (w *Web) serveTop(rw http.ResponseWriter, r *http.Request) {
	day, err := span(r)
	if err != nil {
		reply(rw, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	n := 20
	if s := r.URL.Query().Get("n"); s != "" {
		if n, err = strconv.Atoi(s); err != nil || n < 1 || n > 1000 {
			reply(rw, http.StatusBadRequest, apiError{fmt.Sprintf("n %q: want 1 to 1000", s)})
			return
		}
	}
	length := time.Hour
	if day {
		length = 24 * time.Hour
	}
	reply(rw, http.StatusOK, w.tops.top(day, n, w.now().Add(-length)))
}

// Client is a client's page: its recent queries and blocks, and its
// flow records, unexplained first (none when no flow source is on).
type Client struct {
	Client  netip.Addr `json:"client"`
	Recent  []Event    `json:"recent"`
	Blocked []Event    `json:"blocked"`
	Flows   []Flow     `json:"flows"`
}

// addr reads the IP address in query parameter key.
func addr(r *http.Request, key string) (netip.Addr, error) {
	s := r.URL.Query().Get(key)
	a, err := netip.ParseAddr(s)
	if err != nil {
		return a, fmt.Errorf("%s %q: not an IP address", key, s)
	}
	return a.Unmap(), nil
}

func (w *Web) serveClient(rw http.ResponseWriter, r *http.Request) {
	a, err := addr(r, "addr")
	if err != nil {
		reply(rw, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	f := filter{client: a}
	blocked := filter{client: a, source: "blocked"}
	reply(rw, http.StatusOK, Client{Client: a, Recent: w.tops.last(100, f.keep), Blocked: w.tops.last(100, blocked.keep), Flows: w.clientFlows(a)})
}

func (w *Web) serveWhy(rw http.ResponseWriter, r *http.Request) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(r.URL.Query().Get("name"))), ".")
	if name == "" {
		reply(rw, http.StatusBadRequest, apiError{"name: missing"})
		return
	}
	var client netip.Addr
	if r.URL.Query().Get("client") != "" {
		var err error
		if client, err = addr(r, "client"); err != nil {
			reply(rw, http.StatusBadRequest, apiError{err.Error()})
			return
		}
	}
	reply(rw, http.StatusOK, w.src.Why(name, client))
}

// parseFilter reads the stream's filters: client, suffix and source.
func parseFilter(r *http.Request) (filter, error) {
	q := r.URL.Query()
	f := filter{suffix: strings.Trim(strings.ToLower(q.Get("suffix")), "."), source: q.Get("source")}
	if q.Get("client") != "" {
		var err error
		if f.client, err = addr(r, "client"); err != nil {
			return f, err
		}
	}
	return f, nil
}

// serveStream is the server-sent events: "query" for the queries the
// filters accept, "summary" for the dashboard every few seconds, and
// "dropped" when this stream's queue overflowed. Queries go out in
// batches, at most streamBatch per streamEvery: no one reads faster, and
// it bounds what a browser costs however busy the resolver is. Each
// batch is one write and one flush.
func (w *Web) serveStream(rw http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		reply(rw, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	rc := http.NewResponseController(rw)
	rw.Header().Set("Content-Type", "text/event-stream")
	rw.WriteHeader(http.StatusOK)
	sub := w.hub.subscribe(f)
	defer w.hub.unsubscribe(sub)
	var buf []byte
	send := func(event string, v any) {
		data, _ := json.Marshal(v)
		buf = fmt.Appendf(buf, "event: %s\ndata: %s\n\n", event, data)
	}
	summary := func() {
		if s, err := w.summary(); err == nil {
			send("summary", s)
		}
	}
	summary()
	t := time.NewTicker(streamEvery)
	defer t.Stop()
	var evs []Event
	var sent uint64 // the dropped count last sent
	for n := 1; ; n++ {
		if len(buf) > 0 {
			if _, err := rw.Write(buf); err != nil || rc.Flush() != nil {
				return
			}
			buf = buf[:0]
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		var dropped uint64
		evs, dropped = sub.take(evs, streamBatch)
		for i := range evs {
			buf = append(buf, "event: query\ndata: "...)
			buf = appendEvent(buf, &evs[i])
			buf = append(buf, "\n\n"...)
		}
		clear(evs)
		if n%int(summaryEvery/streamEvery) == 0 {
			summary()
			if dropped != sent {
				sent = dropped
				send("dropped", dropped)
			}
		}
	}
}
