package blocklists

import "time"

// Stats describes the lists in force.
type Stats struct {
	Lists   []ListStats // in config order, InlineList first
	Updated time.Time   // when any source was last loaded or checked
}

// ListStats describes one list.
type ListStats struct {
	Name     string
	Source   string    // path or URL; "" for InlineList
	Allow    bool      // an allowlist
	Rules    int       // rules in force
	BadLines int       // lines of the version in force that were skipped
	Loaded   time.Time // when the version in force was loaded; zero if none
	Err      error     // the last failure, or the bad-line report of the version in force
}

func (s *sourceState) stats() ListStats {
	ls := ListStats{
		Name:   s.src.Name,
		Source: s.src.Path + s.src.URL,
		Allow:  s.src.Allow,
		Loaded: s.loaded,
		Err:    s.err,
	}
	if s.cur != nil {
		ls.Rules, ls.BadLines = s.cur.rules, s.cur.bad
	}
	return ls
}
