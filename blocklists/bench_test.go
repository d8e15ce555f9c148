package blocklists

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// benchDomains returns n distinct three-label names, deterministic so that
// runs compare; average length is close to that of public lists.
func benchDomains(n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	label := func(min, max int) string {
		b := make([]byte, min+rng.IntN(max-min+1))
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	tlds := []string{"com", "net", "org", "io", "de", "xyz"}
	seen := make(map[string]bool, n)
	names := make([]string, 0, n)
	for len(names) < n {
		name := label(3, 10) + "." + label(4, 12) + "." + tlds[rng.IntN(len(tlds))]
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}

// writeHostsFile writes names as a hosts-format blocklist, the most common
// and the most expensive format to parse.
func writeHostsFile(b *testing.B, names []string) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "hosts.txt")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("# generated\n127.0.0.1 localhost\n")
	for _, name := range names {
		w.WriteString("0.0.0.0 " + name + "\n")
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkLoad1M loads a one-million-name hosts file and reports the heap
// the loaded Manager holds.
func BenchmarkLoad1M(b *testing.B) {
	path := writeHostsFile(b, benchDomains(1_000_000))
	cfg := Config{Sources: []Source{{Name: "big", Path: path}}}
	before := heapInUse()
	var m *Manager
	for b.Loop() {
		var err error
		if m, err = New(cfg, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	if st := m.Stats().Lists[1]; st.Rules != 1_000_000 || st.Err != nil {
		b.Fatalf("loaded %+v", st)
	}
	after := heapInUse()
	runtime.KeepAlive(m)
	b.ReportMetric(float64(after-before)/(1<<20), "heapMB")
}

// BenchmarkLookup looks up five-label names against one million rules; half
// are subdomains of listed names, half are not listed.
func BenchmarkLookup(b *testing.B) {
	names := benchDomains(1_000_100)
	m, err := New(Config{Sources: []Source{{Name: "big", Path: writeHostsFile(b, names[:1_000_000])}}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	queries := make([]string, 0, 200)
	for i := range 100 {
		queries = append(queries, "www.cdn."+names[i*997]+".", "www.cdn."+names[1_000_000+i]+".")
	}
	blocked := 0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok := m.Blocked(queries[i%len(queries)]); ok {
			blocked++
		}
	}
	if blocked == 0 {
		b.Fatal("no query was blocked")
	}
}
