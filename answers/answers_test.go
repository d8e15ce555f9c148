package answers

import (
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func names(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Client.String()+" "+e.Name)
	}
	return out
}

func TestValidityWindow(t *testing.T) {
	const grace = 5 * time.Minute
	ttl := 60 * time.Second
	ix := New(Options{Grace: grace})
	client, addr := ip("192.168.1.23"), ip("93.184.215.14")
	ix.Observe(Answer{Client: client, Name: "Example.com.", Chain: []string{"edge.example.net."}, TTL: ttl, At: t0}, addr)
	for _, tc := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"before the first answer", t0.Add(-time.Nanosecond), false},
		{"at the answer", t0, true},
		{"inside the TTL", t0.Add(30 * time.Second), true},
		{"after the TTL, inside the grace", t0.Add(ttl + time.Minute), true},
		{"at the end of the grace", t0.Add(ttl + grace), true},
		{"after the grace", t0.Add(ttl + grace + time.Nanosecond), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ix.Lookup(client, addr, tc.at)
			if (len(got) == 1) != tc.want || len(got) > 1 {
				t.Fatalf("Lookup at %v = %v, want found %v", tc.at, got, tc.want)
			}
			if who := ix.Who(addr, tc.at); len(who) != len(got) {
				t.Fatalf("Who at %v = %v, Lookup %v", tc.at, who, got)
			}
			if !tc.want {
				return
			}
			want := Entry{Client: client, Name: "example.com.", Chain: []string{"edge.example.net."},
				FirstAsked: t0, LastAsked: t0, ValidUntil: t0.Add(ttl + grace)}
			if e := got[0]; e.Client != want.Client || e.Name != want.Name || !slices.Equal(e.Chain, want.Chain) ||
				!e.FirstAsked.Equal(want.FirstAsked) || !e.LastAsked.Equal(want.LastAsked) || !e.ValidUntil.Equal(want.ValidUntil) {
				t.Fatalf("entry = %+v, want %+v", e, want)
			}
		})
	}
	if got := ix.Lookup(ip("192.168.1.24"), addr, t0); len(got) != 0 {
		t.Fatalf("another client's lookup = %v, want none", got)
	}
	if got := ix.Who(addr, time.Time{}); len(got) != 1 {
		t.Fatalf("Who at any time = %v, want the entry", got)
	}
	if got := ix.Lookup(client, addr, time.Time{}); len(got) != 1 {
		t.Fatalf("Lookup at any time = %v, want the entry", got)
	}
}

func TestRepeatUpdatesInPlace(t *testing.T) {
	ix := New(Options{Grace: time.Minute})
	client, addr := ip("192.168.1.23"), ip("2001:db8::1")
	a := Answer{Client: client, Name: "example.com.", TTL: time.Hour, At: t0}
	addrs := []netip.Addr{addr}
	ix.Observe(a, addrs...)
	a.At, a.TTL, a.Chain = t0.Add(10*time.Minute), 5*time.Minute, []string{"cdn.example.net."}
	a.Device = Device{MAC: MAC{2, 0, 0, 0, 0, 1}, Host: "laptop"}
	ix.Observe(a, addrs...)
	a.Device = Device{} // same client address, no longer resolvable to a device
	a.At = t0.Add(11 * time.Minute)
	ix.Observe(a, addrs...)
	if ix.Len() != 2 {
		t.Fatalf("Len = %d, want 2 (one per device)", ix.Len())
	}
	got := ix.Lookup(client, addr, t0.Add(11*time.Minute))
	if len(got) != 2 {
		t.Fatalf("Lookup = %+v, want 2 entries", got)
	}
	var anon, laptop Entry
	for _, e := range got {
		if e.Device.IsZero() {
			anon = e
		} else {
			laptop = e
		}
	}
	// The first answer's hour of TTL still ends later than the repeat's
	// five minutes: a repeat never shortens the window.
	if !anon.FirstAsked.Equal(t0) || !anon.LastAsked.Equal(t0.Add(11*time.Minute)) || !anon.ValidUntil.Equal(t0.Add(61*time.Minute)) ||
		!slices.Equal(anon.Chain, []string{"cdn.example.net."}) {
		t.Fatalf("repeated entry = %+v", anon)
	}
	if laptop.Device.Host != "laptop" || laptop.Device.MAC.String() != "02:00:00:00:00:01" || !laptop.FirstAsked.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("device entry = %+v", laptop)
	}
}

func TestEvictsLeastRecentlyAnswered(t *testing.T) {
	ix := New(Options{MaxEntries: 3})
	client := ip("10.0.0.1")
	observe := func(name string, addr string) {
		ix.Observe(Answer{Client: client, Name: name, TTL: time.Minute, At: t0}, ip(addr))
	}
	observe("a.", "192.0.2.1")
	observe("b.", "192.0.2.2")
	observe("c.", "192.0.2.3")
	observe("a.", "192.0.2.1") // a is answered again: b is now the oldest
	observe("d.", "192.0.2.4")
	observe("e.", "192.0.2.5") // then c
	for _, tc := range []struct {
		addr string
		held bool
	}{{"192.0.2.1", true}, {"192.0.2.2", false}, {"192.0.2.3", false}, {"192.0.2.4", true}, {"192.0.2.5", true}} {
		if got := ix.Who(ip(tc.addr), time.Time{}); (len(got) == 1) != tc.held {
			t.Errorf("Who(%s) = %v, want held %v", tc.addr, got, tc.held)
		}
	}
	if ix.Len() != 3 {
		t.Fatalf("Len = %d, want 3", ix.Len())
	}
}

// TestEvictionMatchesModel runs random answers through a one-shard index
// and checks after each batch that Who and Lookup, at any time and at one
// instant, give for every address exactly the entries a plain recency
// list holds, with their windows, chains and devices. A few addresses have many
// entries (a CDN's), the rest one to three: evictions unlink entries
// from the head, middle and tail of an address's list and shift the
// index's tables, and no entry may get lost or linger.
func TestEvictionMatchesModel(t *testing.T) {
	const max, hot, cold = 500, 4, 300
	ix := New(Options{MaxEntries: max, Grace: time.Minute})
	if len(ix.shards) != 1 {
		t.Fatalf("%d shards, want one, where eviction is exact", len(ix.shards))
	}
	type k struct{ client, addr, name int }
	type rec struct {
		first, last, valid time.Time
		chain              []string
		host               string
	}
	addrOf := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, byte(i >> 8), byte(i)}) }
	clientOf := func(i int) netip.Addr { return netip.AddrFrom16([16]byte{0xfd, 15: byte(i)}) }
	macOf := func(i int) MAC { return MAC{2, 0, 0, 0, 0, byte(i)} }
	held := map[k]*rec{}
	var recent []k // most recent last
	evicted := uint64(0)
	describe := func(e Entry) string {
		return fmt.Sprintf("%v %v %q %s %v %v %v %v", e.Client, e.Device.MAC, e.Device.Host, e.Name, e.Chain, e.FirstAsked.Sub(t0), e.LastAsked.Sub(t0), e.ValidUntil.Sub(t0))
	}
	// model is what the model holds for addr and client (all when -1)
	// valid at at (any when zero), in Who's order.
	model := func(addr, client int, at time.Time) []string {
		var out []string
		for c := range 7 {
			for n := range 5 {
				r := held[k{c, addr, n}]
				if r == nil || client >= 0 && c != client || !at.IsZero() && (at.Before(r.first) || at.After(r.valid)) {
					continue
				}
				out = append(out, describe(Entry{Client: clientOf(c), Device: Device{MAC: macOf(c), Host: r.host}, Name: fmt.Sprint(n),
					Chain: r.chain, FirstAsked: r.first, LastAsked: r.last, ValidUntil: r.valid}))
			}
		}
		return out
	}
	describeAll := func(es []Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, describe(e))
		}
		return out
	}
	rng := uint64(1)
	for step := range 20_000 {
		rng = rng*6364136223846793005 + 1442695040888963407
		r := int(rng >> 33)
		key := k{client: r % 7, addr: hot + r/7%cold, name: r / 7 / cold % 3}
		if r%3 == 0 {
			key = k{client: r / 3 % 7, addr: r / 21 % hot, name: r / 84 % 5}
		}
		at := t0.Add(time.Duration(step-r%2*3) * time.Second) // now and then a late report
		ttl := time.Duration(r%4+1) * 10 * time.Second
		var chain, lowered []string
		switch r % 5 {
		case 0:
			chain = []string{"c0."}
		case 1:
			chain = []string{"Edge.C1.", "c2."}
		}
		for _, c := range chain {
			lowered = append(lowered, strings.ToLower(c))
		}
		host := []string{"", "laptop", "phone"}[r/11%3]
		ix.Observe(Answer{Client: clientOf(key.client), Device: Device{MAC: macOf(key.client), Host: host}, Name: fmt.Sprint(key.name),
			Chain: chain, TTL: ttl, At: at}, addrOf(key.addr))
		if e := held[key]; e != nil {
			e.first, e.valid = minTime(e.first, at), maxTime(e.valid, at.Add(ttl+time.Minute))
			if !at.Before(e.last) {
				e.last, e.chain, e.host = at, lowered, host
			}
		} else {
			held[key] = &rec{first: at, last: at, valid: at.Add(ttl + time.Minute), chain: lowered, host: host}
		}
		recent = append(slices.DeleteFunc(recent, func(o k) bool { return o == key }), key)
		if len(recent) > max {
			delete(held, recent[0])
			recent = recent[1:]
			evicted++
		}
		if step%500 != 499 {
			continue
		}
		checkAddrLists(t, ix)
		instant := t0.Add(time.Duration(step-60) * time.Second)
		for a := range hot + cold {
			for _, at := range []time.Time{{}, instant} {
				if got, want := describeAll(ix.Who(addrOf(a), at)), model(a, -1, at); !slices.Equal(got, want) {
					t.Fatalf("step %d: Who(addr %d, %v) =\n%q\nwant\n%q", step, a, at, got, want)
				}
			}
			for c := range 7 {
				if got, want := describeAll(ix.Lookup(clientOf(c), addrOf(a), instant)), model(a, c, instant); !slices.Equal(got, want) {
					t.Fatalf("step %d: Lookup(client %d, addr %d) =\n%q\nwant\n%q", step, c, a, got, want)
				}
			}
		}
		if st := ix.Stats(); st.Entries != len(recent) || st.Evicted != evicted || ix.Len() != len(recent) {
			t.Fatalf("step %d: Stats = %+v, Len = %d; want %d entries, %d evicted", step, st, ix.Len(), len(recent), evicted)
		}
	}
	if evicted == 0 || len(recent) != max {
		t.Fatalf("%d evicted, %d held: the test did not fill the index", evicted, len(recent))
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// checkAddrLists checks that each shard's address table leads to one
// well-linked list per address holding exactly that address's slots.
func checkAddrLists(t *testing.T, ix *Index) {
	t.Helper()
	for si := range ix.shards {
		s := &ix.shards[si]
		s.mu.Lock()
		seen := map[[16]byte]bool{}
		visited := 0
		for _, c := range s.addrs.cells {
			if c == 0 {
				continue
			}
			head := int32(uint32(c) - 1)
			addr := s.slots[head].addr
			if seen[addr] {
				t.Fatalf("shard %d: address %v has two lists", si, netip.AddrFrom16(addr))
			}
			seen[addr] = true
			if _, _, h := s.findAddr(&addr); h != head {
				t.Fatalf("shard %d: address %v: list found at slot %d, its cell says %d", si, netip.AddrFrom16(addr), h, head)
			}
			prev := int32(-1)
			for i := head; i >= 0; prev, i = i, s.slots[i].addrNext {
				if sl := &s.slots[i]; sl.addr != addr || sl.addrPrev != prev {
					t.Fatalf("shard %d: slot %d (%v, back link %d) in the list of %v after slot %d",
						si, i, netip.AddrFrom16(sl.addr), sl.addrPrev, netip.AddrFrom16(addr), prev)
				}
				if visited++; visited > len(s.slots) {
					t.Fatalf("shard %d: address %v: the list loops", si, netip.AddrFrom16(addr))
				}
			}
		}
		if visited != len(s.slots) || s.addrs.used != len(seen) {
			t.Fatalf("shard %d: lists hold %d of %d slots; %d cells used for %d addresses", si, visited, len(s.slots), s.addrs.used, len(seen))
		}
		s.mu.Unlock()
	}
}

func TestBoundAcrossShards(t *testing.T) {
	const max = 20_000
	ix := New(Options{MaxEntries: max})
	if len(ix.shards) < 2 {
		t.Fatalf("%d shards, want several for %d entries", len(ix.shards), max)
	}
	for i := range 2 * max {
		ix.Observe(Answer{Client: ip("10.0.0.1"), Name: "n.", TTL: time.Minute, At: t0}, netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).Next())
		ix.Observe(Answer{Client: ip("10.0.0.1"), Name: fmt.Sprint(i % 1000), TTL: time.Minute, At: t0}, ip("192.0.2.1"))
	}
	if n := ix.Len(); n > max {
		t.Fatalf("Len = %d, want at most %d", n, max)
	}
}

func TestManyClientsOneAddress(t *testing.T) {
	// A CDN address: every client resolved a different name to it.
	ix := New(Options{})
	cdn := ip("2606:4700::6810:84e5")
	var want []string
	for i := range 50 {
		client := netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + i)})
		name := fmt.Sprintf("site%02d.example.", i)
		ix.Observe(Answer{Client: client, Name: name, TTL: time.Minute, At: t0}, cdn, ip("104.16.132.229"))
		want = append(want, client.String()+" "+name)
	}
	if got := names(ix.Who(cdn, t0)); !slices.Equal(got, want) {
		t.Fatalf("Who = %v\nwant %v", got, want)
	}
	if got := names(ix.Lookup(ip("192.168.1.12"), cdn, t0)); !slices.Equal(got, []string{"192.168.1.12 site02.example."}) {
		t.Fatalf("Lookup = %v", got)
	}
	if got := ix.Who(ip("104.16.132.229"), t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("Who after every window = %v, want none", got)
	}
}

func TestOneClientManyNamesOneAddress(t *testing.T) {
	// Shared hosting: one address serves many names, some asked later.
	ix := New(Options{Grace: time.Minute})
	client, shared := ip("fd00::23"), ip("198.51.100.7")
	for i, name := range []string{"blog.example.", "shop.example.", "mail.example."} {
		ix.Observe(Answer{Client: client, Name: name, TTL: time.Minute, At: t0.Add(time.Duration(i) * time.Hour)}, shared)
	}
	for _, tc := range []struct {
		at   time.Time
		want []string
	}{
		{t0, []string{"fd00::23 blog.example."}},
		{t0.Add(time.Hour + time.Minute), []string{"fd00::23 shop.example."}},
		{t0.Add(2 * time.Hour), []string{"fd00::23 mail.example."}},
		{t0.Add(90 * time.Minute), nil},
	} {
		if got := names(ix.Lookup(client, shared, tc.at)); !slices.Equal(got, tc.want) {
			t.Errorf("Lookup at %v = %v, want %v", tc.at, got, tc.want)
		}
	}
	if got := names(ix.Who(shared, time.Time{})); len(got) != 3 {
		t.Fatalf("Who at any time = %v, want all three names", got)
	}
}

func TestAddressForms(t *testing.T) {
	ix := New(Options{})
	ix.Observe(Answer{Client: ip("::ffff:192.168.1.5"), Name: "v4.example.", TTL: time.Minute, At: t0}, ip("::ffff:192.0.2.9"))
	ix.Observe(Answer{Client: ip("fe80::1"), Name: "v6.example.", TTL: time.Minute, At: t0}, ip("2001:db8::9"))
	for _, tc := range []struct{ client, addr, want string }{
		{"192.168.1.5", "192.0.2.9", "192.168.1.5 v4.example."},
		{"::ffff:192.168.1.5", "::ffff:192.0.2.9", "192.168.1.5 v4.example."},
		{"fe80::1", "2001:db8::9", "fe80::1 v6.example."},
		{"fe80::1", "2001:db8::a", ""},
		{"fe80::2", "2001:db8::9", ""},
	} {
		got := names(ix.Lookup(ip(tc.client), ip(tc.addr), t0))
		if want := []string{tc.want}; tc.want == "" && len(got) != 0 || tc.want != "" && !slices.Equal(got, want) {
			t.Errorf("Lookup(%s, %s) = %v, want %q", tc.client, tc.addr, got, tc.want)
		}
	}
}

func TestConcurrentObserveLookup(t *testing.T) {
	ix := New(Options{MaxEntries: 20_000})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 3000 {
				addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
				ix.Observe(Answer{Client: netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i % 7)}), Name: fmt.Sprintf("n%d.", i%13),
					Chain: []string{"c.example."}, Device: Device{Host: "h"}, TTL: time.Minute, At: t0.Add(time.Duration(i))}, addr)
				if i%20 == 0 {
					ix.Lookup(netip.AddrFrom4([4]byte{10, 0, byte(g), 1}), addr, t0)
					ix.Who(addr, time.Time{})
				}
			}
		})
	}
	wg.Wait()
	if n := ix.Len(); n == 0 || n > 20_000 {
		t.Fatalf("Len = %d", n)
	}
}

func TestObserveRepeatAllocatesNothing(t *testing.T) {
	ix := New(Options{})
	a := Answer{Client: ip("192.168.1.23"), Device: Device{MAC: MAC{2, 1, 2, 3, 4, 5}, Host: "laptop"}, Name: "www.example.com.",
		Chain: []string{"www.example.com.edgekey.net.", "e1.a.akamaiedge.net."}, TTL: time.Minute, At: t0}
	addrs := []netip.Addr{ip("23.1.2.3"), ip("2a02:26f0::1")}
	ix.Observe(a, addrs...)
	if n := testing.AllocsPerRun(100, func() { ix.Observe(a, addrs...) }); n != 0 {
		t.Fatalf("a repeat Observe allocates %v times, want 0", n)
	}
}

// cpuTime is the process's user and system CPU time: with other work on
// the machine, CPU per operation says more than wall time does.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkObserve(b *testing.B) {
	ix := New(Options{})
	a := Answer{Client: ip("192.168.1.23"), Name: "www.example.com.", TTL: time.Minute, At: t0}
	addrs := []netip.Addr{ip("93.184.215.14")}
	ix.Observe(a, addrs...)
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		ix.Observe(a, addrs...)
	}
	reportCPU(b, start)
}

func BenchmarkObserveNew(b *testing.B) {
	ix := New(Options{})
	a := Answer{Client: ip("192.168.1.23"), Name: "www.example.com.", TTL: time.Minute, At: t0}
	addrs := []netip.Addr{{}}
	b.ReportAllocs()
	start := cpuTime(b)
	i := uint32(0)
	for b.Loop() {
		i++
		addrs[0] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		ix.Observe(a, addrs...)
	}
	reportCPU(b, start)
}

// fullIndex is a default-sized index filled with one entry for each of a
// million addresses, and the answer that filled it.
func fullIndex() (*Index, Answer) {
	ix := New(Options{})
	a := Answer{Client: ip("192.168.1.23"), Name: "www.example.com.", TTL: time.Minute, At: t0}
	addrs := []netip.Addr{{}}
	for i := range DefaultMaxEntries {
		addrs[0] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		ix.Observe(a, addrs...)
	}
	return ix, a
}

// BenchmarkLookup asks a full default-sized index for one client's names.
func BenchmarkLookup(b *testing.B) {
	ix, a := fullIndex()
	benchmarkOne(b, func() []Entry { return ix.Lookup(a.Client, netip.AddrFrom4([4]byte{10, 0, 1, 2}), t0) })
}

// BenchmarkLookupSharedAddress asks a full default-sized index for one
// client's name for an address 500 clients were given (a CDN's), whose
// entries Lookup walks.
func BenchmarkLookupSharedAddress(b *testing.B) {
	ix, a := fullIndex()
	cdn := ip("104.16.132.229")
	for i := range 500 {
		a.Client = netip.AddrFrom4([4]byte{192, 168, byte(i >> 8), byte(i)})
		ix.Observe(a, cdn)
	}
	benchmarkOne(b, func() []Entry { return ix.Lookup(a.Client, cdn, t0) })
}

// BenchmarkWho asks a full default-sized index for every client's names.
func BenchmarkWho(b *testing.B) {
	ix, _ := fullIndex()
	benchmarkOne(b, func() []Entry { return ix.Who(netip.AddrFrom4([4]byte{10, 0, 1, 2}), t0) })
}

// benchmarkOne times query, which must find one entry.
func benchmarkOne(b *testing.B, query func() []Entry) {
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		if len(query()) != 1 {
			b.Fatal("entry not found")
		}
	}
	reportCPU(b, start)
}

// BenchmarkMemoryPerEntry fills a default-sized index past its bound,
// with fifty clients each given 30,000 addresses for 4,000 names (a CNAME
// for one name in four), and reports the memory it holds per entry.
func BenchmarkMemoryPerEntry(b *testing.B) { memoryPerEntry(b, 50, 4000) }

// BenchmarkMemoryPerEntryOwnAddress is BenchmarkMemoryPerEntry with every
// entry for an address of its own, the most an address's list costs.
func BenchmarkMemoryPerEntryOwnAddress(b *testing.B) { memoryPerEntry(b, 1, 4000) }

// BenchmarkMemoryPerEntryDistinctNames is BenchmarkMemoryPerEntry with
// every entry for a name and an address of its own, the most the names
// cost.
func BenchmarkMemoryPerEntryDistinctNames(b *testing.B) { memoryPerEntry(b, 1, DefaultMaxEntries*3/2) }

// memoryPerEntry observes one and a half times DefaultMaxEntries answers
// from fifty clients, each address given to perAddress of them in turn
// for one of distinct names, and reports the memory the index holds per
// entry: B/entry is the Go heap it holds (after a collection) and what it
// has mapped off the heap and touched (the two also apart).
func memoryPerEntry(b *testing.B, perAddress, distinct int) {
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		ix := New(Options{})
		nameList := make([]string, distinct)
		for i := range nameList {
			nameList[i] = fmt.Sprintf("host%d.example%d.com.", i, i%97)
		}
		a := Answer{TTL: time.Minute, At: t0}
		addrs := []netip.Addr{{}}
		for i := range DefaultMaxEntries * 3 / 2 {
			j := i / perAddress
			a.Client = netip.AddrFrom4([4]byte{192, 168, 1, byte(i % 50)})
			a.Name = nameList[j%len(nameList)]
			a.Chain = nil
			if j%4 == 0 {
				a.Chain = []string{"edge." + a.Name}
			}
			addrs[0] = netip.AddrFrom4([4]byte{100, 64 + byte(j>>16), byte(j >> 8), byte(j)})
			ix.Observe(a, addrs...)
		}
		nameList = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		n := float64(ix.Len())
		heap, off := float64(after.HeapAlloc-before.HeapAlloc), float64(ix.offHeap())
		b.ReportMetric((heap+off)/n, "B/entry")
		b.ReportMetric(heap/n, "heap-B/entry")
		b.ReportMetric(off/n, "offheap-B/entry")
		b.ReportMetric(n, "entries")
		runtime.KeepAlive(ix)
	}
}
