package resolver

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dnsward/dnsward/querylog"
	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// CacheConfig bounds the cache.
type CacheConfig struct {
	Size int
	// MinTTL and MaxTTL clamp every cached record's TTL.
	MinTTL, MaxTTL time.Duration
	// NegativeMaxTTL caps how long NXDOMAIN and NODATA are remembered.
	NegativeMaxTTL time.Duration
	// ServeStale keeps answers this long past expiry, to be served when
	// every upstream fails (RFC 8767); 0 turns it off.
	ServeStale time.Duration
	// Prefetch refreshes a popular entry in the background when it is
	// asked for in the last tenth of its TTL, so that names the LAN uses
	// all day are not left to expire and cost a client an upstream wait.
	Prefetch bool
	// Now is the cache's clock; nil means time.Now. Tests advance their
	// own instead of sleeping until entries age or expire.
	Now func() time.Time
}

// staleTTL is the TTL of a stale answer, as RFC 8767 recommends.
const staleTTL = 30

const (
	// prefetchHits is how often an entry must be asked for to be popular.
	prefetchHits = 3
	// prefetchQueue bounds the refreshes waiting; beyond it a hit does
	// not queue one, and a later hit tries again.
	prefetchQueue   = 256
	prefetchWorkers = 4
	// hotEntries bounds the entries kept unpacked: a LAN's busy names,
	// answered without unpacking, while the rest of the cache costs only
	// its packed bytes.
	hotEntries = 16384
)

// Cache answers repeated questions from memory and coalesces identical
// questions in flight into one upstream query.
type Cache struct {
	cfg CacheConfig
	// epoch is when the cache's clock started: its times are durations
	// since, on the monotonic clock, which a stepped wall clock (NTP on a
	// board with no RTC) does not move.
	epoch time.Time
	clock func() time.Time
	// entries are the recently used entries, unpacked, in front of cold,
	// which holds every entry packed.
	entries *entryList
	cold    *store
	flight  singleflight.Group
	Next    Stage
	// prefetch holds the questions to refresh.
	prefetch chan cacheKey

	hits, misses, stale, prefetched atomic.Uint64
}

type cacheKey struct {
	name          string
	qtype, qclass uint16
	do            bool
}

func (k cacheKey) String() string {
	return k.name + "/" + strconv.Itoa(int(k.qtype)) + "/" + strconv.Itoa(int(k.qclass)) + "/" + strconv.FormatBool(k.do)
}

type cacheEntry struct {
	msg *dns.Msg // TTLs as stored, never mutated
	// packed is msg in wire form with offsets of its TTLs, so that a hit
	// is answered by patching bytes instead of copying and packing msg.
	packed packedAnswer
	// stored and expires are times on the cache's clock, which are 8
	// bytes each where a time.Time takes 24, in every cached name.
	stored, expires time.Duration
	upstream        string
	// asked counts hits; refreshing is set once a prefetch is queued.
	asked      atomic.Uint32
	refreshing atomic.Bool
	// mark is Query.RepeatMark's word.
	mark atomic.Uint64
	// key and the links are the entry's place in the cache's entryList.
	key        cacheKey
	prev, next *cacheEntry
}

// fresh is what the coalesced upstream query hands every waiter: the
// answer, and the entry it was stored as, if it was, or, when it failed,
// what the stages below made of the failure.
type fresh struct {
	msg      *dns.Msg
	entry    *cacheEntry
	source   Source
	upstream string
	// rebind is the address the rebinding guard refused, if it did.
	rebind netip.Addr
}

// NewCache builds a cache in front of next.
func NewCache(cfg CacheConfig, next Stage) *Cache {
	clock := cfg.Now
	if clock == nil {
		clock = time.Now
	}
	return &Cache{cfg: cfg, epoch: clock(), clock: clock, entries: newEntryList(min(cfg.Size, hotEntries)), cold: newStore(cfg.Size),
		Next: next, prefetch: make(chan cacheKey, prefetchQueue)}
}

// Close returns the memory of the packed entries; the cache is empty after.
func (c *Cache) Close() error { return c.cold.Close() }

// recall unpacks the entry of k from the packed store, or returns nil when
// there is none.
func (c *Cache) recall(k cacheKey) *cacheEntry {
	var buf [256]byte
	end, err := dns.PackDomainName(k.name, buf[:], 0, nil, false)
	if err != nil {
		return nil
	}
	sk := storeKey{buf[:end], k.qtype, k.qclass, k.do}
	r, ok := c.cold.get(sk)
	if !ok {
		return nil
	}
	m := new(dns.Msg)
	if err := m.Unpack(r.wire); err != nil {
		// Checked when stored or loaded; a record that still does not
		// unpack is forgotten rather than served.
		c.cold.remove(sk)
		return nil
	}
	shareNames(m, k.name)
	return &cacheEntry{msg: m, packed: packedAnswer{wire: r.wire, qnameEnd: r.qnameEnd},
		stored: r.stored, expires: r.expires, upstream: c.cold.upstreamName(r.upstream)}
}

// keep makes e the unpacked entry of k. The entry it evicts, the least
// recently used of those, was used more recently than the store's oldest
// records: it counts as a use in the store, so that the store does not
// evict first what the unpacked entries answered all along.
func (c *Cache) keep(k cacheKey, e *cacheEntry) {
	if old := c.entries.Add(k, e); old != nil {
		c.cold.touch(keyOf(old.packed.wire, old.packed.qnameEnd, old.key.do))
	}
}

// forget drops the entry of k, unpacked and packed.
func (c *Cache) forget(k cacheKey, e *cacheEntry) {
	c.entries.Remove(k)
	c.cold.remove(keyOf(e.packed.wire, e.packed.qnameEnd, k.do))
}

// Answer serves a live entry; for any other question it defers to miss,
// which waits on the next stage. A live entry's message is shared: it is
// returned as stored, with q's cache hit set, and the server counts its
// TTLs down when it answers.
func (c *Cache) Answer(ctx context.Context, q *Query) (*dns.Msg, error) {
	question := q.Question()
	k := cacheKey{strings.ToLower(question.Name), question.Qtype, question.Qclass, q.DO()}
	now := c.now()
	var old *cacheEntry
	e, ok := c.entries.Get(k)
	if !ok {
		if e = c.recall(k); e != nil && now < e.expires {
			c.keep(k, e)
		}
	}
	if e != nil {
		if now < e.expires {
			c.hits.Add(1)
			q.Source, q.Upstream = SourceCache, e.upstream
			q.hit = cacheHit{e, e.age(now)}
			if c.cfg.Prefetch {
				c.queuePrefetch(k, e, now)
			}
			return e.msg, nil
		}
		if now < e.expires+c.cfg.ServeStale {
			old = e
		} else {
			c.forget(k, e)
		}
	}
	return nil, &Deferred{Wait: func(ctx context.Context) (*dns.Msg, error) { return c.miss(ctx, k, q, old) }}
}

// miss asks the next stage, once for all identical questions in flight,
// and serves old, an expired entry, when that fails.
func (c *Cache) miss(ctx context.Context, k cacheKey, q *Query, old *cacheEntry) (*dns.Msg, error) {
	c.misses.Add(1)
	f, err := c.fetch(ctx, k, q)
	if old != nil && (err != nil || f.msg.Rcode == dns.RcodeServerFailure) {
		c.stale.Add(1)
		q.Source, q.Upstream = SourceStale, old.upstream
		return old.staleCopy(), nil
	}
	q.Source, q.Upstream, q.RebindAddr = f.source, f.upstream, f.rebind
	if err != nil {
		return nil, err
	}
	if f.entry != nil {
		// Answered as a hit is, from the entry's wire form, instead of
		// copying the message and packing it once more.
		q.hit = cacheHit{f.entry, 0}
		return f.entry.msg, nil
	}
	return f.msg.Copy(), nil
}

// fetch asks the next stage, once for all identical questions in flight,
// and caches the answer.
func (c *Cache) fetch(ctx context.Context, k cacheKey, q *Query) (fresh, error) {
	v, err, _ := c.flight.Do(k.String(), func() (any, error) {
		// The first client may hang up; the others still want the answer.
		leader := *q
		m, err := Resolve(context.WithoutCancel(ctx), c.Next, &leader)
		f := fresh{source: leader.Source, upstream: leader.Upstream, rebind: leader.RebindAddr}
		if err == nil {
			f.msg, f.entry = m, c.store(k, m, leader.Upstream)
		}
		return f, err
	})
	return v.(fresh), err
}

// queuePrefetch queues a refresh of a popular entry near its expiry, once.
func (c *Cache) queuePrefetch(k cacheKey, e *cacheEntry, now time.Duration) {
	if e.asked.Add(1) < prefetchHits || e.expires-now > (e.expires-e.stored)/10 {
		return
	}
	if !e.refreshing.CompareAndSwap(false, true) {
		return
	}
	select {
	case c.prefetch <- k:
	default:
		e.refreshing.Store(false)
	}
}

// Run refreshes the entries queued for prefetch until ctx is done.
func (c *Cache) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range prefetchWorkers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case k := <-c.prefetch:
					if _, err := c.fetch(ctx, k, k.query()); err == nil {
						c.prefetched.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
}

// query is the question k stands for, as a fresh query of the cache's own.
func (k cacheKey) query() *Query {
	req := new(dns.Msg).SetQuestion(k.name, k.qtype)
	req.Question[0].Qclass = k.qclass
	if k.do {
		req.SetEdns0(dns.DefaultMsgSize, true)
	}
	return &Query{Req: req, Start: time.Now(), Proto: "prefetch"}
}

// CacheStats are the cache's counters.
type CacheStats struct {
	Hits, Misses, Stale, Prefetched uint64
	Entries                         int
}

// Stats reports the counters and how many entries are held.
func (c *Cache) Stats() CacheStats {
	return CacheStats{c.hits.Load(), c.misses.Load(), c.stale.Load(), c.prefetched.Load(), c.cold.len()}
}

// store caches m if it may be, and returns its entry, or nil. m is this
// cache's own, fresh from upstream: whether kept or not, its OPT is dropped
// and its TTLs clamped, so the first answer agrees with later ones.
func (c *Cache) store(k cacheKey, m *dns.Msg, upstream string) *cacheEntry {
	ttl, ok := c.ttl(m)
	if !ok {
		return nil
	}
	m.Extra = withoutOPT(m.Extra)
	for _, rr := range records(m) {
		h := rr.Header()
		h.Ttl = min(max(h.Ttl, uint32(c.cfg.MinTTL/time.Second)), uint32(ttl/time.Second))
	}
	shareNames(m, k.name)
	packed, err := packAnswer(m, k.name)
	if err != nil {
		// Served as it came, but not remembered: a message that does not
		// pack cannot be answered from the cache's wire form.
		return nil
	}
	now := c.now()
	e := &cacheEntry{msg: m, packed: packed, stored: now, expires: now + ttl, upstream: upstream}
	c.keep(k, e)
	c.cold.put(record{wire: packed.wire, qnameEnd: packed.qnameEnd, do: k.do, upstream: c.cold.upstreamID(upstream), stored: e.stored, expires: e.expires})
	return e
}

// shareNames makes m's question and records keep key, their entry's key
// name, instead of copies of their own where they are equal to it.
func shareNames(m *dns.Msg, key string) {
	for _, rr := range records(m) {
		h := rr.Header()
		h.Name = shared(h.Name, key)
	}
	for i := range m.Question {
		m.Question[i].Name = shared(m.Question[i].Name, key)
	}
}

// shared returns the key's copy of name when they are equal, so that an
// entry keeps one copy of its name for its key, its question and the records
// it owns, instead of one per unpacked field.
func shared(name, key string) string {
	if name == key {
		return key
	}
	return name
}

// ttl is how long m may be cached, or false when it must not be: positive
// answers live as long as their shortest record, negative ones as the SOA
// says (RFC 2308), both clamped.
func (c *Cache) ttl(m *dns.Msg) (time.Duration, bool) {
	if m.Truncated || (m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) {
		return 0, false
	}
	var ttl time.Duration
	if m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0 {
		ttl = minTTL(m.Answer)
	} else {
		soa := findSOA(m.Ns)
		if soa == nil {
			return 0, false
		}
		ttl = min(time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second, c.cfg.NegativeMaxTTL)
	}
	ttl = max(ttl, c.cfg.MinTTL)
	if c.cfg.MaxTTL > 0 {
		ttl = min(ttl, c.cfg.MaxTTL)
	}
	return ttl, ttl >= time.Second
}

// now is the time on the cache's clock.
func (c *Cache) now() time.Duration { return c.clock().Sub(c.epoch) }

// age is how long the entry has been held, in whole seconds rounded up, so
// that a TTL counted down by it never outlives the entry.
func (e *cacheEntry) age(now time.Duration) uint32 {
	return uint32((now - e.stored + time.Second - 1) / time.Second)
}

// aged copies the entry's message with every TTL counted down by age.
func (e *cacheEntry) aged(age uint32) *dns.Msg {
	m := e.msg.Copy()
	for _, rr := range records(m) {
		h := rr.Header()
		h.Ttl = querylog.AgedTTL(h.Ttl, age)
	}
	return m
}

// staleCopy copies an expired entry with every TTL set to staleTTL.
func (e *cacheEntry) staleCopy() *dns.Msg {
	m := e.msg.Copy()
	for _, rr := range records(m) {
		rr.Header().Ttl = staleTTL
	}
	return m
}

func records(m *dns.Msg) []dns.RR {
	out := make([]dns.RR, 0, len(m.Answer)+len(m.Ns)+len(m.Extra))
	out = append(out, m.Answer...)
	out = append(out, m.Ns...)
	return append(out, m.Extra...)
}

func minTTL(rrs []dns.RR) time.Duration {
	ttl := uint32(1<<31 - 1)
	for _, rr := range rrs {
		ttl = min(ttl, rr.Header().Ttl)
	}
	return time.Duration(ttl) * time.Second
}

func findSOA(rrs []dns.RR) *dns.SOA {
	for _, rr := range rrs {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa
		}
	}
	return nil
}

// withoutOPT drops the OPT records in place, clearing the slots left behind
// so that a cached message does not keep a dropped record alive.
func withoutOPT(rrs []dns.RR) []dns.RR {
	return slices.DeleteFunc(rrs, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeOPT })
}
