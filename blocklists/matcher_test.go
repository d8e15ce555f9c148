package blocklists

import (
	"os"
	"path/filepath"
	"testing"
)

// writeFile writes a list into dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBlocked(t *testing.T) {
	dir := t.TempDir()
	ads := writeFile(t, dir, "ads.txt", `# hosts file with a mix of formats
0.0.0.0 teredo.ipv6.microsoft.com
127.0.0.1 localhost
||tracker.example^
@@||ok.tracker.example^
*.wild.example.org
/^ad[0-9]+\.example\.net$/
allowed.example.com
dup.example.com
both.example.com
`)
	allow := writeFile(t, dir, "allow.txt", "allowed.example.com\n/^keep[0-9]\\.tracker\\.example$/\n")
	m, err := New(Config{
		Sources: []Source{
			{Name: "ads", Path: ads},
			{Name: "mine", Path: allow, Allow: true},
		},
		Inline: []string{"inline.example.com", "dup.example.com", "*.both.example.com"},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		blocked bool
		match   Match
	}{
		{"teredo.ipv6.microsoft.com", true, Match{"ads", "teredo.ipv6.microsoft.com"}},
		{"x.teredo.ipv6.microsoft.com.", true, Match{"ads", "teredo.ipv6.microsoft.com"}},
		{"X.Teredo.IPv6.Microsoft.COM.", true, Match{"ads", "teredo.ipv6.microsoft.com"}},
		{"ipv6.microsoft.com", false, Match{}},
		{"eredo.ipv6.microsoft.com", false, Match{}},
		{"localhost", false, Match{}},
		{"a.b.tracker.example", true, Match{"ads", "||tracker.example^"}},
		{"ok.tracker.example", false, Match{"ads", "@@||ok.tracker.example^"}},
		{"x.ok.tracker.example", false, Match{"ads", "@@||ok.tracker.example^"}},
		{"keep1.tracker.example", false, Match{"mine", `/^keep[0-9]\.tracker\.example$/`}},
		{"wild.example.org", false, Match{}},
		{"a.wild.example.org", true, Match{"ads", "*.wild.example.org"}},
		{"ad12.example.net", true, Match{"ads", `/^ad[0-9]+\.example\.net$/`}},
		{"x.ad12.example.net", false, Match{}},
		{"allowed.example.com", false, Match{"mine", "allowed.example.com"}},
		{"sub.allowed.example.com", false, Match{"mine", "allowed.example.com"}},
		{"inline.example.com", true, Match{"config", "inline.example.com"}},
		{"dup.example.com", true, Match{"config", "dup.example.com"}},
		// A name rule supersedes a wildcard for the same name.
		{"both.example.com", true, Match{"ads", "both.example.com"}},
		{"x.both.example.com", true, Match{"ads", "both.example.com"}},
		{"", false, Match{}},
		{".", false, Match{}},
		{"com", false, Match{}},
	}
	for _, tt := range tests {
		match, blocked := m.Blocked(tt.name)
		if blocked != tt.blocked || match != tt.match {
			t.Errorf("Blocked(%q) = %+v, %v; want %+v, %v", tt.name, match, blocked, tt.match, tt.blocked)
		}
	}
	if got := m.Stats().Lists; len(got) != 3 || got[1].Rules != 8 || got[2].Rules != 2 || got[0].Rules != 3 {
		t.Errorf("Stats().Lists = %+v", got)
	}
}

func TestBlockedDoesNotAllocate(t *testing.T) {
	m, err := New(Config{Inline: []string{"ads.example.com"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.b.ads.example.com.", "www.example.org."} {
		if n := testing.AllocsPerRun(100, func() { m.Blocked(name) }); n != 0 {
			t.Errorf("Blocked(%q) allocates %v times", name, n)
		}
	}
}
