package blocklists

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"
)

// Kind is the form a rule was written in; it decides what the rule matches.
type Kind uint8

// Rule kinds.
const (
	KindNone     Kind = iota // blank line, comment, or hosts boilerplate such as localhost
	KindDomain               // plain or hosts-file name: the name and its subdomains
	KindAdblock              // ||name^: the name and its subdomains
	KindWildcard             // *.name: subdomains of name only
	KindRegexp               // /regexp/: any name the expression matches
)

// Rule is one parsed line.
type Rule struct {
	Kind   Kind           // what the line matches
	Allow  bool           // an @@ exception rule
	Names  []string       // normalized names: lower case, no trailing dot, punycode
	Regexp *regexp.Regexp // the expression of a KindRegexp rule
}

// maxLineLen bounds a line; real lists never come close, hostile ones might.
const maxLineLen = 16 << 10

// maxReportedLines is how many bad lines of a list are reported in full.
const maxReportedLines = 5

var (
	errLineTooLong = fmt.Errorf("line longer than %d bytes", maxLineLen)
	errTooLarge    = errors.New("list too large")
)

// ParseLine parses one line of a hosts file, domain list or adblock-style list.
func ParseLine(line string) (Rule, error) {
	var r Rule
	if err := parseLine(line, &r); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// parseLine is ParseLine reusing r.Names, so loading a list does not allocate
// a slice per line.
func parseLine(line string, r *Rule) error {
	*r = Rule{Names: r.Names[:0]}
	if len(line) > maxLineLen {
		return errLineTooLong
	}
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' || line[0] == '!' || line[0] == '[' {
		return nil // comments in hosts, adblock ("!") and adblock headers ("[Adblock Plus 2.0]")
	}
	line, r.Allow = strings.CutPrefix(line, "@@")
	// A regexp may itself contain '#', so it is recognised before comments are cut.
	if len(line) >= 2 && line[0] == '/' && line[len(line)-1] == '/' {
		re, err := regexp.Compile(line[1 : len(line)-1])
		if err != nil {
			return fmt.Errorf("invalid regexp: %w", err)
		}
		r.Kind, r.Regexp = KindRegexp, re
		return nil
	}
	// Only a '#' after a blank starts a comment: "example.com##.ad" is an
	// adblock element-hiding rule, and reading it as "example.com" would
	// block a site the list only meant to tidy up.
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		if j := strings.IndexByte(line[i:], '#'); j >= 0 && isBlank(line[i+j-1]) {
			line = strings.TrimSpace(line[:i+j])
		}
	}
	switch {
	case line == "":
		if r.Allow {
			return errors.New("empty @@ exception")
		}
		return nil
	case strings.HasPrefix(line, "||"):
		name, err := adblockName(line[2:])
		return r.addName(KindAdblock, name, err)
	case strings.HasPrefix(line, "*."):
		return r.addName(KindWildcard, line[2:], nil)
	}
	first, rest := cutField(line)
	if addr, err := netip.ParseAddr(first); err == nil {
		if r.Allow {
			return errors.New("@@ exception in hosts-file form")
		}
		return r.parseHosts(addr, rest)
	}
	if rest != "" {
		return fmt.Errorf("unexpected text %q after name", truncate(rest))
	}
	return r.addName(KindDomain, first, nil)
}

// adblockName extracts the name from the part of "||name^" after "||". DNS
// lists use few modifiers; $important only orders rules within a browser
// filter, so it is accepted, while others would change what the rule means
// and are refused rather than silently widened.
func adblockName(body string) (string, error) {
	name, tail, ok := strings.Cut(body, "^")
	if !ok {
		return "", errors.New("adblock rule without closing ^")
	}
	switch tail {
	case "", "|", "$important":
		return name, nil
	}
	return "", fmt.Errorf("unsupported adblock modifier %q", truncate(tail))
}

// parseHosts handles the names after the address of a hosts-file line.
// Blocklists point names at a sink; any other address means the file is a
// real hosts file, whose names must not be blocked.
func (r *Rule) parseHosts(addr netip.Addr, names string) error {
	if !addr.IsUnspecified() && !addr.IsLoopback() {
		return fmt.Errorf("hosts entry for %s is not a block (want 0.0.0.0, 127.0.0.1, :: or ::1)", addr)
	}
	if names == "" {
		return errors.New("hosts line without names")
	}
	for names != "" {
		var field string
		field, names = cutField(names)
		name, err := normalizeName(field)
		if err != nil {
			// Boilerplate such as "localhost" or "0.0.0.0" is no valid name;
			// checking it only on failure keeps the common path cheap.
			if localNames[strings.ToLower(strings.TrimSuffix(field, "."))] {
				continue
			}
			return err
		}
		if localNames[name] {
			continue
		}
		r.Kind = KindDomain
		r.Names = append(r.Names, name)
	}
	return nil
}

// addName records a single-name rule; err is the error of extracting name.
func (r *Rule) addName(kind Kind, name string, err error) error {
	if err != nil {
		return err
	}
	name, err = normalizeName(name)
	if err != nil {
		return err
	}
	r.Kind = kind
	r.Names = append(r.Names, name)
	return nil
}

// cutField splits s, already trimmed, at its first run of blanks.
func cutField(s string) (field, rest string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// truncate keeps quoted junk in error messages short.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// list is one loaded version of one source. It is immutable once built, so
// matchers built from it can share it across reloads.
type list struct {
	text       string // canonical non-regexp rules, each ending in '\n'
	rules      int    // all rules, regexps included
	exceptions int    // @@ rules among them
	regexps    []regexpRule
	bad        int   // lines that failed to parse
	report     error // the first few bad lines, file:line, nil if none
}

// regexpRule is a compiled /regexp/ rule and its text for Match.Rule.
type regexpRule struct {
	re    *regexp.Regexp
	rule  string
	allow bool
}

// parseList reads a whole list. Bad lines are counted and reported in the
// list, not returned as an error: only reading can fail the list here.
// label names the list in line errors, e.g. its path.
func parseList(r io.Reader, label string, maxSize int64) (*list, error) {
	br := bufio.NewReaderSize(newCappedReader(r, maxSize), 64<<10)
	var (
		l       list
		text    []byte
		rule    Rule
		reports []error
	)
	for lineNo := 1; ; lineNo++ {
		raw, err := br.ReadSlice('\n')
		tooLong := false
		for errors.Is(err, bufio.ErrBufferFull) {
			tooLong = true
			_, err = br.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if len(raw) == 0 && errors.Is(err, io.EOF) {
			break
		}
		line := string(raw)
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		perr := errLineTooLong
		if !tooLong {
			perr = parseLine(line, &rule)
		}
		if perr != nil {
			l.bad++
			if len(reports) < maxReportedLines {
				reports = append(reports, fmt.Errorf("blocklist %s:%d: %w", label, lineNo, perr))
			}
		} else {
			text = l.add(text, &rule)
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if l.bad > len(reports) {
		reports = append(reports, fmt.Errorf("blocklist %s: %d more bad lines", label, l.bad-len(reports)))
	}
	l.report = errors.Join(reports...)
	// string(text) copies into an exactly sized arena; keeping the grown
	// append buffer would waste up to half of it for the life of the list.
	l.text = string(text)
	return &l, nil
}

// add appends the rules of one parsed line to the list.
func (l *list) add(text []byte, r *Rule) []byte {
	n := len(r.Names)
	if r.Kind == KindRegexp {
		n = 1
		rule := "/" + r.Regexp.String() + "/"
		if r.Allow {
			rule = "@@" + rule
		}
		l.regexps = append(l.regexps, regexpRule{re: r.Regexp, rule: rule, allow: r.Allow})
	}
	for _, name := range r.Names {
		text = appendRule(text, r.Kind, r.Allow, name)
	}
	l.rules += n
	if r.Allow {
		l.exceptions += n
	}
	return text
}

// appendRule writes the canonical form of a name rule, which is also what
// Match.Rule reports. decodeRule reverses it.
func appendRule(text []byte, kind Kind, allow bool, name string) []byte {
	if allow {
		text = append(text, "@@"...)
	}
	switch kind {
	case KindAdblock:
		text = append(append(append(text, "||"...), name...), '^')
	case KindWildcard:
		text = append(append(text, "*."...), name...)
	default:
		text = append(text, name...)
	}
	return append(text, '\n')
}

// decodeRule returns the name a canonical rule is keyed by, whether it is an
// exception and whether it matches only subdomains of that name.
func decodeRule(rule string) (name string, allow, subOnly bool) {
	rule, allow = strings.CutPrefix(rule, "@@")
	if body, ok := strings.CutPrefix(rule, "||"); ok {
		return strings.TrimSuffix(body, "^"), allow, false
	}
	if name, ok := strings.CutPrefix(rule, "*."); ok {
		return name, allow, true
	}
	return rule, allow, false
}

// cappedReader fails once more than left bytes have been read, so a source
// that never ends is cut off instead of filling memory.
type cappedReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func newCappedReader(r io.Reader, limit int64) *cappedReader {
	return &cappedReader{r: r, left: limit, limit: limit}
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// Probe for a byte beyond the cap: a list exactly at the cap is fine.
		var one [1]byte
		if n, err := c.r.Read(one[:]); n == 0 {
			return 0, err
		}
		return 0, fmt.Errorf("%w: over %d bytes", errTooLarge, c.limit)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
