package answers

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// records is the number of strings the index's stores hold, and the
// bytes their records take.
func records(ix *Index) (n, size int) {
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		n += s.strs.table.used
		size += len(s.strs.buf)
		s.mu.Unlock()
	}
	return n, size
}

// TestEvictionFreesStrings fills a one-shard index with entries of names
// of their own, then answers ten times as many other names of the same
// length: the evicted entries' records are freed and reused, so the store
// holds as many strings, in as many bytes, as when it was first full.
func TestEvictionFreesStrings(t *testing.T) {
	const max = 1000
	ix := New(Options{MaxEntries: max})
	observe := func(i int) {
		a := Answer{Client: ip("192.168.1.2"), Device: Device{Host: "tv"}, Name: fmt.Sprintf("n%06d.example.", i), TTL: time.Minute, At: t0}
		if i%4 == 0 {
			a.Chain = []string{fmt.Sprintf("e%06d.cdn.example.", i)}
		}
		ix.Observe(a, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	for i := range max {
		observe(i)
	}
	n, size := records(ix)
	// One record per name (with its chain), one for the client's device.
	if n != max+1 {
		t.Fatalf("%d records for %d names and one device", n, max)
	}
	for i := max; i < 11*max; i++ {
		observe(i)
	}
	if n2, size2 := records(ix); n2 != n || size2 != size {
		t.Fatalf("after evictions: %d records in %d bytes, want %d in %d", n2, size2, n, size)
	}
	if st := ix.Stats(); st.Evicted != 10*max || st.Entries != max {
		t.Fatalf("Stats = %+v", st)
	}
	const last = 11*max - 4 // the last name with a chain
	e := ix.Who(netip.AddrFrom4([4]byte{10, 0, last >> 8, last & 0xff}), t0)
	if len(e) != 1 || e[0].Name != fmt.Sprintf("n%06d.example.", last) || !slices.Equal(e[0].Chain, []string{fmt.Sprintf("e%06d.cdn.example.", last)}) ||
		e[0].Device.Host != "tv" {
		t.Fatalf("the last entry with a chain = %+v", e)
	}
}

// TestSharedStringsOutliveEvictions gives fifty addresses one name, chain
// and device, then evicts thirty of the entries: the other twenty keep
// them, in one record each, until the last of them goes.
func TestSharedStringsOutliveEvictions(t *testing.T) {
	const max = 100
	ix := New(Options{MaxEntries: max})
	shared := Answer{Client: ip("fd00::7"), Device: Device{MAC: MAC{2, 0, 0, 0, 0, 7}, Host: "laptop"}, Name: "WWW.Example.COM.",
		Chain: []string{"www.example.com.CDN.example.net.", "e7.cdn.example.net."}, TTL: time.Minute, At: t0}
	sharedAddr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	for i := range 50 {
		ix.Observe(shared, sharedAddr(i))
	}
	other := func(i int) {
		ix.Observe(Answer{Client: ip("192.168.1.9"), Name: fmt.Sprintf("other%d.example.", i), TTL: time.Minute, At: t0},
			netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	for i := range 80 {
		other(i)
	}
	want := Entry{Client: shared.Client, Device: shared.Device, Name: "www.example.com.",
		Chain: []string{"www.example.com.cdn.example.net.", "e7.cdn.example.net."}}
	for i := range 50 {
		got := ix.Who(sharedAddr(i), t0)
		if i < 30 {
			if len(got) != 0 {
				t.Fatalf("address %d: %+v, want it evicted", i, got)
			}
			continue
		}
		if len(got) != 1 || got[0].Client != want.Client || got[0].Device != want.Device || got[0].Name != want.Name || !slices.Equal(got[0].Chain, want.Chain) {
			t.Fatalf("address %d: %+v, want %+v", i, got, want)
		}
	}
	// The shared name and chain, the shared device, 80 other names and
	// their client.
	if n, _ := records(ix); n != 1+1+80+1 {
		t.Fatalf("%d records, want 83", n)
	}
	for i := 80; i < 100; i++ {
		other(i)
	}
	if n, _ := records(ix); n != 100+1 {
		t.Fatalf("%d records once the shared entries are gone, want 101", n)
	}
}

// TestLongStrings keeps names, chains and hosts whose lengths take more
// than a byte to record, and changes them on a repeat.
func TestLongStrings(t *testing.T) {
	ix := New(Options{})
	long := func(c string, n int) string { return strings.Repeat(c, n) + ".example." }
	a := Answer{Client: ip("10.0.0.1"), Device: Device{Host: long("h", 200)}, Name: long("N", 300),
		Chain: []string{long("C", 130), "short.", long("d", 1000)}, TTL: time.Minute, At: t0}
	addr := ip("192.0.2.1")
	check := func(host string, chain ...string) {
		t.Helper()
		got := ix.Lookup(a.Client, addr, t0)
		if len(got) != 1 || got[0].Name != strings.ToLower(a.Name) || got[0].Device.Host != host || !slices.Equal(got[0].Chain, chain) {
			t.Fatalf("Lookup = %+v", got)
		}
	}
	ix.Observe(a, addr)
	check(long("h", 200), long("c", 130), "short.", long("d", 1000))
	a.At, a.Chain, a.Device.Host = t0.Add(time.Second), []string{long("e", 129)}, long("g", 120)
	ix.Observe(a, addr)
	check(long("g", 120), long("e", 129))
	if ix.Len() != 1 {
		t.Fatalf("Len = %d, want 1", ix.Len())
	}
}

func TestLower(t *testing.T) {
	for _, s := range []string{"", "a", "www.example.com.", "WWW.example.com.", "www.example.coM", "www.exampleZcom", "www.example@com",
		"www.example[com", "ab`cdefg{", "www.exämple.com.", "ÀÉÎ.example.", "aaaaaaaaaaaaaaaaZ", "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7fA", "@[`{@[`{"} {
		if got, want := lower(s), strings.ToLower(s); got != want {
			t.Errorf("lower(%q) = %q, want %q", s, got, want)
		}
	}
	for c := range 256 {
		for pos := range 9 {
			b := []byte("abcdefghi")
			b[pos] = byte(c)
			if got, want := lower(string(b)), strings.ToLower(string(b)); got != want {
				t.Fatalf("lower(%q) = %q, want %q", b, got, want)
			}
		}
	}
}
