package resolver

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testRecord packs an A answer for name as the cache stores it.
func testRecord(t testing.TB, name string, addr byte, stored time.Duration) record {
	t.Helper()
	p, err := packAnswer(answerA(name, 300, addr), name)
	if err != nil {
		t.Fatal(err)
	}
	return record{wire: p.wire, qnameEnd: p.qnameEnd, stored: stored, expires: stored + 300*time.Second}
}

func getRecord(s *store, r record) (record, bool) {
	return s.get(r.key())
}

// A record comes back as stored, a copy of it; it is gone once removed,
// replaced when stored again, and another type, class or DO bit of the
// same name is another key.
func TestStoreRoundTrip(t *testing.T) {
	s := newStore(100)
	defer s.Close()
	a := testRecord(t, "a.example.test.", 1, time.Second)
	a.upstream = s.upstreamID("udp://192.0.2.53:53")
	s.put(a)
	got, ok := getRecord(s, a)
	if !ok || !bytes.Equal(got.wire, a.wire) || got.qnameEnd != a.qnameEnd || got.stored != a.stored || got.expires != a.expires ||
		s.upstreamName(got.upstream) != "udp://192.0.2.53:53" {
		t.Fatalf("get = %+v, %v; want %+v", got, ok, a)
	}
	got.wire[len(got.wire)-1]++ // the caller's copy, not the store's
	if again, _ := getRecord(s, a); !bytes.Equal(again.wire, a.wire) {
		t.Error("changing a got record changed the stored one")
	}
	for _, other := range []struct {
		name          string
		qtype, qclass uint16
		do            bool
	}{
		{"b.example.test.", dns.TypeA, dns.ClassINET, false},
		{"a.example.test.", dns.TypeAAAA, dns.ClassINET, false},
		{"a.example.test.", dns.TypeA, dns.ClassCHAOS, false},
		{"a.example.test.", dns.TypeA, dns.ClassINET, true},
	} {
		name := make([]byte, 256)
		n, _ := dns.PackDomainName(other.name, name, 0, nil, false)
		if _, ok := s.get(storeKey{name[:n], other.qtype, other.qclass, other.do}); ok {
			t.Errorf("%+v found the record of a.example.test. A IN", other)
		}
	}
	b := testRecord(t, "a.example.test.", 2, 2*time.Second)
	s.put(b)
	if got, _ := getRecord(s, a); !bytes.Equal(got.wire, b.wire) || s.len() != 1 {
		t.Errorf("stored again: got %v, %d records; want the second", got.wire, s.len())
	}
	s.remove(a.key())
	if _, ok := getRecord(s, a); ok || s.len() != 0 {
		t.Errorf("removed record found, %d records", s.len())
	}
}

// The store holds at most its size, the oldest records going first, and
// a record recalled from the older half of the ring goes on as new.
func TestStoreEviction(t *testing.T) {
	// Enough records of about 70 bytes to fill several chunks.
	const size = 60_000
	s := newStore(size)
	defer s.Close()
	name := func(i int) string { return fmt.Sprintf("n%d.example.test.", i) }
	var first record
	for i := range size {
		r := testRecord(t, name(i), 1, 0)
		if i == 0 {
			first = r
		}
		s.put(r)
	}
	if s.len() != size {
		t.Fatalf("%d records, want %d", s.len(), size)
	}
	// n0 is recalled, so n1 is now the oldest of its shard.
	if _, ok := getRecord(s, first); !ok {
		t.Fatal("n0 not found")
	}
	for i := size; i < size+size/4; i++ {
		s.put(testRecord(t, name(i), 1, 0))
	}
	if s.len() != size {
		t.Errorf("%d records after more were stored, want %d", s.len(), size)
	}
	if _, ok := getRecord(s, first); !ok {
		t.Error("n0, recalled, was evicted")
	}
	if _, ok := getRecord(s, testRecord(t, name(1), 1, 0)); ok {
		t.Error("n1, the oldest, was kept")
	}
	if _, ok := getRecord(s, testRecord(t, name(size+size/4-1), 1, 0)); !ok {
		t.Error("the newest record was evicted")
	}
}

// Storing the same keys again and again leaves dead records behind, which
// are reclaimed: the ring does not grow past twice what is live (and a
// chunk), and every key finds its latest record.
func TestStoreCompaction(t *testing.T) {
	const keys = 1000
	s := newStore(keys)
	defer s.Close()
	for round := range 200 {
		for i := range keys {
			s.put(testRecord(t, fmt.Sprintf("k%d.example.test.", i), byte(round), time.Duration(round)))
		}
	}
	sh := &s.shards[0]
	if len(sh.ring) > 3 || len(sh.chunks) > 4 {
		t.Errorf("ring of %d chunks, %d mapped, for %d live bytes", len(sh.ring), len(sh.chunks), sh.liveBytes)
	}
	for i := range keys {
		r, ok := getRecord(s, testRecord(t, fmt.Sprintf("k%d.example.test.", i), 0, 0))
		if !ok || r.stored != 199 {
			t.Fatalf("k%d: %v, stored %v; want the last round's", i, ok, r.stored)
		}
	}
	seen := 0
	s.each(func(r record) {
		seen++
		if r.stored != 199 {
			t.Errorf("each visited a dead record, stored %v", r.stored)
		}
	})
	if seen != keys {
		t.Errorf("each visited %d records, want %d", seen, keys)
	}
}

// A closed store holds nothing and takes nothing.
func TestStoreClosed(t *testing.T) {
	s := newStore(10)
	r := testRecord(t, "a.example.test.", 1, 0)
	s.put(r)
	s.Close()
	s.put(r)
	if _, ok := getRecord(s, r); ok || s.len() != 0 {
		t.Errorf("closed store: found %v, %d records", ok, s.len())
	}
}

// Entries beyond the unpacked ones are still answered, from the store,
// with their TTLs counted down; their count is the store's.
func TestCacheRecallsPacked(t *testing.T) {
	clock := &persistClock{time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)}
	const names = hotEntries + 100
	c := newPersistCache(t, clock, names, 0)
	defer c.Close()
	for i := range names {
		storeA(t, c, fmt.Sprintf("n%d.example.test.", i), 300, "up")
	}
	if got := c.Stats().Entries; got != names {
		t.Fatalf("%d entries, want %d", got, names)
	}
	k := cacheKey{"n0.example.test.", dns.TypeA, dns.ClassINET, false}
	if _, ok := c.entries.Peek(k); ok {
		t.Fatal("n0 still unpacked: the test needs it packed only")
	}
	clock.t = clock.t.Add(100 * time.Second)
	q := &Query{Req: new(dns.Msg).SetQuestion("N0.example.test.", dns.TypeA)}
	m, err := c.Answer(t.Context(), q)
	if err != nil || q.Source != SourceCache || q.Upstream != "up" || q.hit.age != 100 {
		t.Fatalf("Answer = %v, %v; source %v, upstream %q, age %d", m, err, q.Source, q.Upstream, q.hit.age)
	}
	if a, ok := m.Answer[0].(*dns.A); !ok || a.A.String() != "192.0.2.1" {
		t.Errorf("answer %v", m.Answer)
	}
	if _, ok := c.entries.Peek(k); !ok {
		t.Error("a recalled entry is not kept unpacked")
	}
}

// Concurrent stores, recalls and removals of overlapping keys, with the
// store small enough to evict and compact all along, never return another
// key's record nor a torn one.
func TestStoreConcurrent(t *testing.T) {
	const keys, workers, ops = 3000, 4, 20000
	s := newStore(keys / 2)
	defer s.Close()
	records := make([]record, keys)
	for i := range records {
		records[i] = testRecord(t, fmt.Sprintf("c%d.example.test.", i), byte(i), time.Duration(i))
	}
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for n := range ops {
				i := (n*7919 + w*104729) % keys
				r := records[i]
				switch n % 5 {
				case 0, 1:
					s.put(r)
				case 2:
					s.remove(r.key())
				default:
					if got, ok := getRecord(s, r); ok && (!bytes.Equal(got.wire, r.wire) || got.stored != r.stored) {
						errs <- fmt.Errorf("c%d: got another record, stored %v", i, got.stored)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := s.len(); n > keys/2 {
		t.Errorf("%d records held, size %d", n, keys/2)
	}
}

// A message too long for a record's 16-bit length is not stored, and
// leaves the store as it was.
func TestStoreTooLong(t *testing.T) {
	s := newStore(10)
	defer s.Close()
	long := testRecord(t, "a.example.test.", 1, 0)
	long.wire = append(bytes.Clone(long.wire), make([]byte, 65535-len(long.wire))...)
	s.put(long)
	if _, ok := getRecord(s, long); ok || s.len() != 0 {
		t.Fatalf("a %d-byte record was stored", long.size())
	}
	r := testRecord(t, "b.example.test.", 1, 0)
	s.put(r)
	if got, ok := getRecord(s, r); !ok || !bytes.Equal(got.wire, r.wire) {
		t.Error("the store does not work after refusing a long record")
	}
}
