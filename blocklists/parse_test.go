package blocklists

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		line  string
		kind  Kind
		allow bool
		names []string
		err   string // substring of the error; "" = no error
	}{
		{line: ""},
		{line: " \t "},
		{line: "# comment"},
		{line: "#0.0.0.0 ads.example.com"},
		{line: "! adblock comment"},
		{line: "[Adblock Plus 2.0]"},
		{line: "\r"},
		{line: "example.com", kind: KindDomain, names: []string{"example.com"}},
		{line: "Example.COM.", kind: KindDomain, names: []string{"example.com"}},
		{line: "example.com\r\n", kind: KindDomain, names: []string{"example.com"}},
		{line: "  example.com  # why", kind: KindDomain, names: []string{"example.com"}},
		{line: "_dmarc.example.com", kind: KindDomain, names: []string{"_dmarc.example.com"}},
		{line: "r1---sn-abc.googlevideo.com", kind: KindDomain, names: []string{"r1---sn-abc.googlevideo.com"}},

		// hosts files
		{line: "0.0.0.0 ads.example.com", kind: KindDomain, names: []string{"ads.example.com"}},
		{line: "127.0.0.1\tads.example.com  Tracker.example.net.", kind: KindDomain, names: []string{"ads.example.com", "tracker.example.net"}},
		{line: ":: ads.example.com", kind: KindDomain, names: []string{"ads.example.com"}},
		{line: "::1 ads.example.com #c", kind: KindDomain, names: []string{"ads.example.com"}},
		{line: "0.0.0.0 ads.example.com ads.example.com", kind: KindDomain, names: []string{"ads.example.com", "ads.example.com"}},
		{line: "0.0.0.0 localhost ads.example.com", kind: KindDomain, names: []string{"ads.example.com"}},
		{line: "127.0.0.1 localhost localhost.localdomain LocalHost"},
		{line: "::1 ip6-localhost ip6-loopback"},
		{line: "0.0.0.0 0.0.0.0"},
		{line: "255.255.255.255 broadcasthost", err: "not a block"},
		{line: "192.168.1.10 nas.example.com", err: "not a block"},
		{line: "0.0.0.0", err: "without names"},
		{line: "0.0.0.0 ads.example.com bad!name.com", err: "invalid character"},
		{line: "1.2.3.4", err: "not a block"},
		{line: "0.0.0.0 1.2.3.4", err: "numeric top-level"},

		// adblock
		{line: "||ads.example.com^", kind: KindAdblock, names: []string{"ads.example.com"}},
		{line: "||ads.example.com^|", kind: KindAdblock, names: []string{"ads.example.com"}},
		{line: "||ads.example.com^$important", kind: KindAdblock, names: []string{"ads.example.com"}},
		{line: "@@||good.example.com^", kind: KindAdblock, allow: true, names: []string{"good.example.com"}},
		{line: "@@good.example.com", kind: KindDomain, allow: true, names: []string{"good.example.com"}},
		{line: "@@*.good.example.com", kind: KindWildcard, allow: true, names: []string{"good.example.com"}},
		{line: "||ads.example.com^$third-party", err: "unsupported adblock modifier"},
		{line: "||ads.example.com", err: "without closing ^"},
		{line: "||ads*.example.com^", err: "invalid character"},
		{line: "example.com##.banner", err: "invalid character"},
		{line: "@@", err: "empty @@"},
		{line: "@@0.0.0.0 ads.example.com", err: "hosts-file form"},

		// wildcards and regexps
		{line: "*.example.com", kind: KindWildcard, names: []string{"example.com"}},
		{line: "*.Example.com.", kind: KindWildcard, names: []string{"example.com"}},
		{line: "*.com", err: "single-label"},
		{line: "*example.com", err: "invalid character"},
		{line: `/^ad[0-9]+\./`, kind: KindRegexp},
		{line: `/#[a-z]/`, kind: KindRegexp},
		{line: `@@/^good\./`, kind: KindRegexp, allow: true},
		{line: "/(unclosed/", err: "invalid regexp"},

		// IDN and punycode
		{line: "bücher.example", kind: KindDomain, names: []string{"xn--bcher-kva.example"}},
		{line: "0.0.0.0 BÜCHER.example", kind: KindDomain, names: []string{"xn--bcher-kva.example"}},
		{line: "XN--BCHER-KVA.example", kind: KindDomain, names: []string{"xn--bcher-kva.example"}},
		{line: "||münchen.de^", kind: KindAdblock, names: []string{"xn--mnchen-3ya.de"}},
		{line: "xn--a.example", err: "invalid IDN"},
		// Punycode in any case is punycode: each spelling of a prefix
		// ("xN--", "Xn--") goes through the same IDNA check.
		{line: "xN--BCHER-kva.example", kind: KindDomain, names: []string{"xn--bcher-kva.example"}},
		{line: "www.Xn--bcher-kva.example", kind: KindDomain, names: []string{"www.xn--bcher-kva.example"}},
		{line: "xN--.A", err: "empty label"},
		{line: "Xn--.a", err: "empty label"},
		{line: "a.xN--.com", err: "empty label"},
		{line: "||Xn--a.example^", err: "invalid IDN"},
		{line: "\xff\xfe.example", err: "invalid UTF-8"},
		{line: "a.com x##y # c", err: "unexpected text"},

		// hostile and invalid
		{line: "com", err: "single-label"},
		{line: "localhost", err: "single-label"},
		{line: "a..example.com", err: "empty label"},
		{line: ".example.com", err: "empty label"},
		{line: ".", err: "empty name"},
		{line: long + "a.example.com", err: "label longer"},
		{line: strings.Repeat(long+".", 4) + "com", err: "longer than 253"},
		{line: strings.Repeat("x", maxLineLen+1), err: "line longer"},
		{line: strings.Repeat("é", 300) + ".com", err: "longer than 253"},
		{line: "\x00\x01\x02binary", err: "invalid character"},
		{line: "ex ample.com", err: "unexpected text"},
		{line: "exa$mple.com", err: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(truncate(tt.line), func(t *testing.T) {
			r, err := ParseLine(tt.line)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseLine(%q) error = %v, want it to contain %q", tt.line, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLine(%q): %v", tt.line, err)
			}
			if r.Kind != tt.kind || r.Allow != tt.allow || !slices.Equal(r.Names, tt.names) {
				t.Errorf("ParseLine(%q) = kind %d allow %v names %q, want kind %d allow %v names %q",
					tt.line, r.Kind, r.Allow, r.Names, tt.kind, tt.allow, tt.names)
			}
			if (r.Regexp != nil) != (tt.kind == KindRegexp) {
				t.Errorf("ParseLine(%q).Regexp = %v", tt.line, r.Regexp)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	input := "\ufeff# StevenBlack-style header\r\n" +
		"127.0.0.1 localhost\r\n" +
		"0.0.0.0 ads.example.com tracker.example.com\r\n" +
		"||Ads.Example.net^\n" +
		"@@||good.example.com^\n" +
		"*.wild.example.org\n" +
		"/^ad[0-9]+\\./\n" +
		"bad!line\n" +
		strings.Repeat("y", 100<<10) + "\n" + // longer than the read buffer
		"last.example.com" // no final newline
	l, err := parseList(strings.NewReader(input), "test.txt", DefaultMaxSize)
	if err != nil {
		t.Fatal(err)
	}
	wantText := "ads.example.com\ntracker.example.com\n||ads.example.net^\n@@||good.example.com^\n*.wild.example.org\nlast.example.com\n"
	if l.text != wantText {
		t.Errorf("text = %q, want %q", l.text, wantText)
	}
	if l.rules != 7 || l.exceptions != 1 || l.bad != 2 || len(l.regexps) != 1 {
		t.Errorf("rules %d exceptions %d bad %d regexps %d, want 7 1 2 1", l.rules, l.exceptions, l.bad, len(l.regexps))
	}
	for _, want := range []string{"blocklist test.txt:8: invalid character", "blocklist test.txt:9: line longer"} {
		if l.report == nil || !strings.Contains(l.report.Error(), want) {
			t.Errorf("report %v does not contain %q", l.report, want)
		}
	}
}

func TestParseListReportsFirstBadLines(t *testing.T) {
	input := strings.Repeat("bad!\n", 100)
	l, err := parseList(strings.NewReader(input), "junk", DefaultMaxSize)
	if err != nil {
		t.Fatal(err)
	}
	msg := l.report.Error()
	if l.bad != 100 || strings.Count(msg, "\n") != maxReportedLines || !strings.Contains(msg, "blocklist junk: 95 more bad lines") {
		t.Errorf("bad = %d, report:\n%s", l.bad, msg)
	}
}

func TestParseListSizeCap(t *testing.T) {
	tests := []struct {
		size   int
		tooBig bool
	}{
		{size: 99, tooBig: false},
		{size: 100, tooBig: false},
		{size: 101, tooBig: true},
	}
	for _, tt := range tests {
		input := strings.Repeat("a.example.com\n", 100)[:tt.size]
		_, err := parseList(strings.NewReader(input), "capped", 100)
		if got := errors.Is(err, errTooLarge); got != tt.tooBig {
			t.Errorf("size %d: err = %v, want too large %v", tt.size, err, tt.tooBig)
		}
	}
}
