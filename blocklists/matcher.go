package blocklists

import (
	"strings"
)

// Match says which list and rule decided.
type Match struct {
	List string // the list's name, e.g. "stevenblack" or "config"
	Rule string // the rule in canonical form, e.g. "||ads.example.com^"
}

// entry locates a name rule. Names are map keys that point into the lists'
// text, so the matcher owns no per-rule allocation: one map slot per name.
type entry struct {
	off     uint32 // start of the rule in the list's text
	list    uint16 // index into matcher.lists
	subOnly bool   // *.name: the name itself is not matched
}

// layer is one list as the matcher sees it.
type layer struct {
	name  string
	allow bool // every rule of the list is an exception
	l     *list
}

// matcher is an immutable compiled view of all lists; a reload builds a new
// one and swaps it in, so lookups need no locks.
type matcher struct {
	lists            []layer
	block, allow     map[string]entry
	blockRE, allowRE []indexedRegexp
}

// indexedRegexp is a regexp rule and the list it belongs to.
type indexedRegexp struct {
	*regexpRule
	list uint16
}

// newMatcher compiles layers; earlier layers win when two lists hold the
// same name, so the order decides which list a match is reported against.
func newMatcher(layers []layer) *matcher {
	var nBlock, nAllow int
	for _, ly := range layers {
		if ly.allow {
			nAllow += ly.l.rules
		} else {
			nBlock += ly.l.rules - ly.l.exceptions
			nAllow += ly.l.exceptions
		}
	}
	m := &matcher{
		lists: layers,
		block: make(map[string]entry, nBlock),
		allow: make(map[string]entry, nAllow),
	}
	for i, ly := range layers {
		text := ly.l.text
		for off := 0; off < len(text); {
			end := off + strings.IndexByte(text[off:], '\n')
			name, allow, subOnly := decodeRule(text[off:end])
			set := m.block
			if allow || ly.allow {
				set = m.allow
			}
			// A name rule supersedes a wildcard for the same name: it matches
			// strictly more.
			if old, ok := set[name]; !ok || old.subOnly && !subOnly {
				set[name] = entry{off: uint32(off), list: uint16(i), subOnly: subOnly}
			}
			off = end + 1
		}
		for j := range ly.l.regexps {
			re := indexedRegexp{&ly.l.regexps[j], uint16(i)}
			if re.allow || ly.allow {
				m.allowRE = append(m.allowRE, re)
			} else {
				m.blockRE = append(m.blockRE, re)
			}
		}
	}
	return m
}

// match reports whether name is blocked. If an exception spares it, the
// exception is returned with false.
func (m *matcher) match(name string) (Match, bool) {
	name, ok := canonicalName(name)
	if !ok {
		return Match{}, false
	}
	blocked, ok := m.find(m.block, m.blockRE, name)
	if !ok {
		return Match{}, false
	}
	if allowed, ok := m.find(m.allow, m.allowRE, name); ok {
		return allowed, false
	}
	return blocked, true
}

// allowed reports the allow rule covering name, if any.
func (m *matcher) allowed(name string) (Match, bool) {
	name, ok := canonicalName(name)
	if !ok {
		return Match{}, false
	}
	return m.find(m.allow, m.allowRE, name)
}

// canonicalName is name lowercased without the root dot, or false when it
// cannot be a listed name.
func canonicalName(name string) (string, bool) {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > maxNameLen {
		return "", false
	}
	// Stub resolvers send lower case; only 0x20-randomised queries pay for a copy.
	if hasUpper(name) {
		name = strings.ToLower(name)
	}
	return name, true
}

// find probes name and each of its parent domains, then the regexps.
func (m *matcher) find(set map[string]entry, res []indexedRegexp, name string) (Match, bool) {
	for i := 0; ; {
		if e, ok := set[name[i:]]; ok && (i > 0 || !e.subOnly) {
			text := m.lists[e.list].l.text[e.off:]
			return Match{List: m.lists[e.list].name, Rule: text[:strings.IndexByte(text, '\n')]}, true
		}
		j := strings.IndexByte(name[i:], '.')
		if j < 0 {
			break
		}
		i += j + 1
	}
	for _, re := range res {
		if re.re.MatchString(name) {
			return Match{List: m.lists[re.list].name, Rule: re.rule}, true
		}
	}
	return Match{}, false
}
