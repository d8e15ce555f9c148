package blocklists

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// maxNameLen is the longest presentation-form name without the trailing dot.
const maxNameLen = 253

var (
	errEmptyName   = errors.New("empty name")
	errSingleLabel = errors.New("single-label name would block a whole top-level domain")
)

// localNames are hosts-file boilerplate; blocking them would break the host
// the list was written for, so they are skipped rather than reported.
var localNames = map[string]bool{
	"localhost":             true,
	"localhost.localdomain": true,
	"local":                 true,
	"broadcasthost":         true,
	"ip6-localhost":         true,
	"ip6-loopback":          true,
	"ip6-localnet":          true,
	"ip6-mcastprefix":       true,
	"ip6-allnodes":          true,
	"ip6-allrouters":        true,
	"ip6-allhosts":          true,
	"0.0.0.0":               true,
}

// normalizeName returns name lower-cased, without a trailing dot and with IDN
// labels in punycode. In the common case it returns a substring of name, so
// loading a million-line list does not allocate per name.
func normalizeName(name string) (string, error) {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return "", errEmptyName
	}
	// UTF-8 spends at most four bytes per code point and punycode at least
	// one byte, so anything longer cannot become a valid name; checking here
	// keeps hostile lines out of the IDNA code and out of error messages.
	if len(name) > 4*maxNameLen {
		return "", fmt.Errorf("name longer than %d bytes", maxNameLen)
	}
	if needsIDNA(name) {
		// The IDNA mapping turns invalid UTF-8 into U+FFFD, which would
		// make junk bytes a valid-looking punycode name.
		if !utf8.ValidString(name) {
			return "", errors.New("invalid UTF-8 in name")
		}
		ascii, err := idna.Lookup.ToASCII(name)
		if err != nil {
			return "", fmt.Errorf("invalid IDN %q: %w", name, err)
		}
		name = ascii
	} else if hasUpper(name) {
		name = strings.ToLower(name)
	}
	if err := checkName(name); err != nil {
		return "", err
	}
	return name, nil
}

// needsIDNA reports whether name has non-ASCII bytes or punycode labels, the
// only cases where the comparatively slow IDNA mapping and validation matter.
// The ACE prefix is matched in any case: "xN--" is as much punycode as
// "xn--", and skipping its check would let an invalid label through.
func needsIDNA(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return true
		}
	}
	for label := name; ; {
		if len(label) >= 4 && strings.EqualFold(label[:4], "xn--") {
			return true
		}
		i := strings.IndexByte(label, '.')
		if i < 0 {
			return false
		}
		label = label[i+1:]
	}
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// checkName validates a lower-case ASCII name. Underscores and hyphens are
// allowed anywhere because real blocklists carry such names and DNS itself
// does not forbid them.
func checkName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("name longer than %d bytes", maxNameLen)
	}
	labels, start, numeric := 0, 0, true
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			c := name[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("invalid character %q in name %q", c, name)
			}
			numeric = numeric && '0' <= c && c <= '9'
			continue
		}
		switch n := i - start; {
		case n == 0:
			return fmt.Errorf("empty label in name %q", name)
		case n > 63:
			return fmt.Errorf("label longer than 63 bytes in name %q", name)
		}
		labels++
		start = i + 1
		if i < len(name) {
			numeric = true
		}
	}
	switch {
	case labels < 2:
		return fmt.Errorf("%w: %q", errSingleLabel, name)
	case numeric:
		// No top-level domain is all digits; such a "name" is an address.
		return fmt.Errorf("numeric top-level label in %q", name)
	}
	return nil
}
