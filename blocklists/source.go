package blocklists

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/dnsward/dnsward/internal/atomicfile"
)

// Source is one list: exactly one of Path or URL.
type Source struct {
	Name  string // shown in logs and the query log, e.g. "builtin", "stevenblack"
	Path  string // local file
	URL   string // http(s) URL
	Allow bool   // an allowlist: its rules exempt names from blocking
}

// fetchTimeout bounds one download, so a server trickling bytes cannot hold
// the refresh loop forever when the caller's context has no deadline.
const fetchTimeout = 5 * time.Minute

// sourceState is what the Manager knows about one source. It is guarded by
// Manager.mu; the *list it holds is immutable and shared with matchers.
type sourceState struct {
	src     Source
	cur     *list     // last good version, nil if none yet
	loaded  time.Time // when cur was put in force
	err     error     // last load error or bad-line report of cur
	etag    string    // validators of cur, for conditional GETs
	lastMod string
	next    time.Time // when Run should next download a URL source
}

// label is how line errors name the source: the file for local lists.
func (s *sourceState) label() string {
	if s.src.Path != "" {
		return s.src.Path
	}
	return s.src.Name
}

// accept decides whether a new version may replace the one in force. A list
// that is mostly junk is more likely an error page or the wrong file than a
// list, and an empty download more likely a broken mirror than an empty list.
func (s *sourceState) accept(l *list) error {
	switch {
	case l.bad > l.rules:
		return fmt.Errorf("blocklist %s: rejected, %d of %d lines bad, keeping previous version: %w",
			s.src.Name, l.bad, l.bad+l.rules, l.report)
	case l.rules == 0 && s.src.URL != "":
		return fmt.Errorf("blocklist %s: rejected, download of %s has no rules, keeping previous version", s.src.Name, s.src.URL)
	}
	return nil
}

// install puts l in force.
func (s *sourceState) install(l *list, now time.Time) {
	s.cur, s.loaded, s.err = l, now, l.report
}

// refresh re-reads one source, keeping the version in force on failure. It
// reports whether the list in force changed; the error is the failure, or the
// bad-line report of the version in force.
func (m *Manager) refresh(ctx context.Context, st *sourceState) (bool, error) {
	before := st.cur
	var err error
	switch {
	case st.src.URL != "":
		err = m.fetch(ctx, st)
	case st.src.Path != "":
		err = m.loadFile(st)
	}
	if err != nil {
		st.err = err
		return false, err
	}
	return st.cur != before, st.err
}

func (m *Manager) loadFile(st *sourceState) error {
	f, err := os.Open(st.src.Path)
	if err != nil {
		return fmt.Errorf("blocklist %s: %w", st.src.Name, err)
	}
	defer f.Close()
	l, err := parseList(f, st.label(), m.maxSize)
	if err != nil {
		return fmt.Errorf("blocklist %s: reading %s: %w", st.src.Name, st.src.Path, err)
	}
	if err := st.accept(l); err != nil {
		return err
	}
	st.install(l, time.Now())
	return nil
}

// fetch downloads a URL source, conditionally if a version is in force. It
// schedules the next download either way: a failed one is retried sooner
// than the refresh interval.
func (m *Manager) fetch(ctx context.Context, st *sourceState) error {
	now := time.Now()
	if err := m.download(ctx, st, now); err != nil {
		st.next = now.Add(m.retry)
		return fmt.Errorf("blocklist %s: %w", st.src.Name, err)
	}
	st.next = now.Add(m.interval)
	return nil
}

func (m *Manager) download(ctx context.Context, st *sourceState, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.src.URL, nil)
	if err != nil {
		return err
	}
	// Validators only make sense if there is a copy a 304 could refer to.
	if st.cur != nil {
		if st.etag != "" {
			req.Header.Set("If-None-Match", st.etag)
		}
		if st.lastMod != "" {
			req.Header.Set("If-Modified-Since", st.lastMod)
		}
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && st.cur != nil:
		// Record the check so that a restart does not download again at once.
		st.err = errors.Join(st.cur.report, m.saveMeta(st, now))
		return nil
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("GET %s: %s", st.src.URL, resp.Status)
	case resp.ContentLength > m.maxSize:
		return fmt.Errorf("GET %s: %w: Content-Length %d over %d bytes", st.src.URL, errTooLarge, resp.ContentLength, m.maxSize)
	}
	data, err := io.ReadAll(newCappedReader(resp.Body, m.maxSize))
	if err != nil {
		return fmt.Errorf("GET %s: %w", st.src.URL, err)
	}
	l, err := parseList(bytes.NewReader(data), st.label(), m.maxSize)
	if err != nil {
		return err
	}
	if err := st.accept(l); err != nil {
		return err
	}
	st.install(l, now)
	st.etag, st.lastMod = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	// The new list is in force even if it cannot be cached; the cache only
	// matters at the next start.
	st.err = errors.Join(st.err, m.saveCopy(st, data, now))
	return nil
}

// cacheMeta is stored next to a downloaded copy.
type cacheMeta struct {
	URL          string    `json:"url"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	Checked      time.Time `json:"checked"` // last time the server confirmed this copy
}

// cachePath names a source's copy by its URL, so a source whose URL changes
// in the config never starts from the old URL's data.
func (m *Manager) cachePath(url string) string {
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(m.stateDir, "blocklist-"+hex.EncodeToString(sum[:12]))
}

func (m *Manager) saveCopy(st *sourceState, data []byte, now time.Time) error {
	if m.stateDir == "" {
		return nil
	}
	if err := os.MkdirAll(m.stateDir, 0o755); err != nil {
		return fmt.Errorf("blocklist %s: caching: %w", st.src.Name, err)
	}
	if err := writeFileAtomic(m.cachePath(st.src.URL)+".txt", data); err != nil {
		return fmt.Errorf("blocklist %s: caching: %w", st.src.Name, err)
	}
	return m.saveMeta(st, now)
}

func (m *Manager) saveMeta(st *sourceState, now time.Time) error {
	if m.stateDir == "" {
		return nil
	}
	meta, err := json.Marshal(cacheMeta{URL: st.src.URL, ETag: st.etag, LastModified: st.lastMod, Checked: now})
	if err == nil {
		err = writeFileAtomic(m.cachePath(st.src.URL)+".json", meta)
	}
	if err != nil {
		return fmt.Errorf("blocklist %s: caching: %w", st.src.Name, err)
	}
	return nil
}

// loadCopy puts the cached copy of a URL source in force. Nothing cached is
// not an error: the first download will fill the cache.
func (m *Manager) loadCopy(st *sourceState) error {
	if m.stateDir == "" {
		return nil
	}
	base := m.cachePath(st.src.URL)
	f, err := os.Open(base + ".txt")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("blocklist %s: cached copy: %w", st.src.Name, err)
	}
	defer f.Close()
	l, err := parseList(f, st.label(), m.maxSize)
	if err != nil {
		return fmt.Errorf("blocklist %s: cached copy: %w", st.src.Name, err)
	}
	if err := st.accept(l); err != nil {
		return err
	}
	// Without readable metadata the copy is still good to block with; it
	// just gets downloaded again unconditionally.
	var meta cacheMeta
	if raw, err := os.ReadFile(base + ".json"); err == nil && json.Unmarshal(raw, &meta) == nil && meta.URL == st.src.URL {
		st.etag, st.lastMod = meta.ETag, meta.LastModified
		st.next = meta.Checked.Add(m.interval)
	}
	st.install(l, time.Now())
	return nil
}

// writeFileAtomic replaces name so that a crash leaves the old or the new
// content, never a truncated copy that would be loaded at the next start.
func writeFileAtomic(name string, data []byte) error {
	return atomicfile.Write(name, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
