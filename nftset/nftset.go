// Package nftset adds the addresses of DNS answers to nftables sets, per
// domain, as dnsmasq's nftset= does, so that a default-deny egress firewall
// lets through exactly the addresses its clients were told about.
package nftset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
)

// DefaultAddTimeout is the longest an answer waits for its add when
// Options.AddTimeout is zero.
const DefaultAddTimeout = 50 * time.Millisecond

// failLogEvery is the least time between two logged failures: a set deleted
// under a running server fails every matching answer, and a line for each
// would bury the rest of the log.
const failLogEvery = 10 * time.Second

// minTimeout is the least element timeout given: a TTL of 0 with no grace
// would otherwise send no timeout and the kernel would keep the element for
// good (or for the set's default).
const minTimeout = time.Second

// maxBatch bounds the adds sent to the kernel in one transaction.
const maxBatch = 64

// ErrLate is returned by Add when the kernel has not answered within
// AddTimeout; the add still completes in the background.
var ErrLate = errors.New("nftset: add still pending after the wait")

// ErrNeedsCapNetAdmin is why the kernel refused to show a set.
var ErrNeedsCapNetAdmin = errors.New("needs CAP_NET_ADMIN")

// ErrClosed is returned by Add after Close.
var ErrClosed = errors.New("nftset: closed")

// Family is an nftables table family.
type Family uint8

// The table families a set can live in.
const (
	Inet Family = iota + 1
	IP
	IP6
)

var familyNames = [...]string{Inet: "inet", IP: "ip", IP6: "ip6"}

// String returns the family as nft spells it.
func (f Family) String() string {
	if f == 0 || int(f) >= len(familyNames) {
		return fmt.Sprintf("family(%d)", uint8(f))
	}
	return familyNames[f]
}

// UnmarshalText parses "inet", "ip" or "ip6".
func (f *Family) UnmarshalText(b []byte) error {
	for i, n := range familyNames {
		if i > 0 && n == string(b) {
			*f = Family(i)
			return nil
		}
	}
	return fmt.Errorf("unknown nftables family %q (want inet, ip or ip6)", b)
}

func (f Family) table() nftables.TableFamily {
	switch f {
	case IP:
		return nftables.TableFamilyIPv4
	case IP6:
		return nftables.TableFamilyIPv6
	}
	return nftables.TableFamilyINet
}

// SetRef names one nftables set.
type SetRef struct {
	Family Family
	Table  string
	Set    string
}

// String returns "family table set", as nft lists it and errors name it.
func (r SetRef) String() string { return r.Family.String() + " " + r.Table + " " + r.Set }

// Rule sends the answers for names under Domains to Sets.
type Rule struct {
	// Domains match themselves and their subdomains, case-insensitively;
	// when rules overlap, the longest matching domain wins (as dnsmasq).
	Domains []string
	// Sets get the A addresses if their key type is ipv4_addr and the AAAA
	// addresses if it is ipv6_addr.
	Sets []SetRef
}

// Options configures a Feeder.
type Options struct {
	Rules []Rule
	// Grace is added to the answer's TTL for the element's timeout, because
	// clients keep using an address past its TTL.
	Grace time.Duration
	// AddTimeout is the most an answer waits for its add (DefaultAddTimeout
	// if zero).
	AddTimeout time.Duration
	// NetNS is an open network namespace file whose sets are fed (tests);
	// zero is the process's own namespace.
	NetNS int
	// Now is the clock of the failure-log rate limit; nil is time.Now.
	Now func() time.Time

	batchMax int // adds per batch, maxBatch if zero; BenchmarkAdd sets 1
}

// Stats counts the adds since New.
type Stats struct {
	Added  uint64 // adds the kernel accepted
	Failed uint64 // adds the kernel refused
	Late   uint64 // adds the caller stopped waiting for after AddTimeout
}

// Target is the sets the answers for one domain go to.
type Target struct {
	Domain string
	V4, V6 []SetRef
	v4, v6 []*nftables.Set
}

// Feeder adds answers' addresses to nftables sets over one netlink
// connection; a single goroutine owns the connection and sends the adds
// waiting at once as one batch.
type Feeder struct {
	conn       *nftables.Conn
	domains    map[string]*Target
	grace      time.Duration
	addTimeout time.Duration
	now        func() time.Time
	log        *slog.Logger
	batchMax   int

	reqs      chan *request
	quit      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once

	added, failed, late atomic.Uint64

	logMu   sync.Mutex
	logNext time.Time
	skipped int
}

type request struct {
	t       *Target
	addrs   []netip.Addr
	timeout time.Duration
	done    chan error // buffered: the owner never blocks on a caller gone
}

// New opens the netlink connection and checks that every set exists and
// holds addresses; an error names the set.
func New(ctx context.Context, opts Options, logger *slog.Logger) (*Feeder, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.AddTimeout <= 0 {
		opts.AddTimeout = DefaultAddTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.batchMax <= 0 || opts.batchMax > maxBatch {
		opts.batchMax = maxBatch
	}
	conn, nl, err := dial(ctx, opts.NetNS)
	if err != nil {
		return nil, err
	}
	f := &Feeder{
		conn:       conn,
		domains:    make(map[string]*Target),
		grace:      opts.Grace,
		addTimeout: opts.AddTimeout,
		now:        opts.Now,
		log:        logger,
		batchMax:   opts.batchMax,
		reqs:       make(chan *request, maxBatch),
		quit:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	if err := f.build(ctx, opts.Rules); err != nil {
		_ = conn.CloseLasting()
		return nil, err
	}
	_ = nl.SetDeadline(time.Time{})
	go f.run()
	return f, nil
}

// build looks every set up once and indexes the rules by domain.
func (f *Feeder) build(ctx context.Context, rules []Rule) error {
	sets := make(map[SetRef]*nftables.Set)
	for i, r := range rules {
		if len(r.Domains) == 0 || len(r.Sets) == 0 {
			return fmt.Errorf("nftset rule %d: needs at least one domain and one set", i+1)
		}
		for _, ref := range r.Sets {
			if _, ok := sets[ref]; ok {
				continue
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("nftset %s: %w", ref, err)
			}
			s, err := lookup(f.conn, ref)
			if err != nil {
				return fmt.Errorf("nftset %s: %w", ref, err)
			}
			sets[ref] = s
		}
		for _, d := range r.Domains {
			key, err := normalize(d)
			if err != nil {
				return fmt.Errorf("nftset rule %d: domain %q: %w", i+1, d, err)
			}
			t := f.domains[key]
			if t == nil {
				t = &Target{Domain: key}
				f.domains[key] = t
			}
			for _, ref := range r.Sets {
				t.add(ref, sets[ref])
			}
		}
	}
	return nil
}

// add appends the set to the target unless a rule for the same domain
// already named it.
func (t *Target) add(ref SetRef, s *nftables.Set) {
	refs, ss := &t.V4, &t.v4
	if s.KeyType.Name == nftables.TypeIP6Addr.Name {
		refs, ss = &t.V6, &t.v6
	}
	for _, have := range *refs {
		if have == ref {
			return
		}
	}
	*refs = append(*refs, ref)
	*ss = append(*ss, s)
}

// dial opens a lasting nftables connection in the network namespace netns
// (0 for the caller's), its reads bounded by ctx's deadline until the
// caller clears it on the netlink socket returned.
func dial(ctx context.Context, netns int) (*nftables.Conn, *netlink.Conn, error) {
	var nl *netlink.Conn
	conn, err := nftables.New(nftables.AsLasting(), nftables.WithNetNSFd(netns),
		nftables.WithSockOptions(func(c *netlink.Conn) error { nl = c; return nil }))
	if err != nil {
		return nil, nil, fmt.Errorf("nftset: open netlink: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nl.SetDeadline(dl)
	}
	return conn, nl, nil
}

// lookup fetches the set and checks that single addresses can be added to it.
func lookup(conn *nftables.Conn, ref SetRef) (*nftables.Set, error) {
	if ref.Family < Inet || ref.Family > IP6 {
		return nil, fmt.Errorf("unknown family %d", ref.Family)
	}
	if ref.Table == "" || ref.Set == "" {
		return nil, errors.New("needs a table and a set name")
	}
	table := &nftables.Table{Name: ref.Table, Family: ref.Family.table()}
	s, err := conn.GetSetByName(table, ref.Set)
	switch {
	case isErrno(err, syscall.EPERM):
		return nil, fmt.Errorf("%w: %w", ErrNeedsCapNetAdmin, err)
	case isErrno(err, syscall.ENOENT):
		if _, terr := conn.ListTableOfFamily(ref.Table, ref.Family.table()); isErrno(terr, syscall.ENOENT) {
			return nil, fmt.Errorf("no such table %s %s", ref.Family, ref.Table)
		}
		return nil, errors.New("no such set")
	case err != nil:
		return nil, err
	}
	switch {
	case s.KeyType.Name != nftables.TypeIPAddr.Name && s.KeyType.Name != nftables.TypeIP6Addr.Name:
		return nil, fmt.Errorf("set holds %s, not ipv4_addr or ipv6_addr", s.KeyType.Name)
	case s.IsMap:
		return nil, errors.New("is a map, not a set")
	case s.Interval:
		return nil, errors.New("has flags interval: not supported (drop the flag; single addresses need none)")
	case s.Constant:
		return nil, errors.New("is constant")
	}
	return s, nil
}

func isErrno(err error, want syscall.Errno) bool {
	if want == syscall.EPERM && errors.Is(err, os.ErrPermission) {
		return true
	}
	return errors.Is(err, want)
}

// normalize lowercases a rule's domain and drops its dots at either end.
func normalize(d string) (string, error) {
	key := strings.ToLower(strings.Trim(d, "."))
	switch {
	case key == "":
		return "", errors.New("empty")
	case len(key) > 253:
		return "", errors.New("longer than 253 characters")
	case strings.Contains(key, ".."):
		return "", errors.New("empty label")
	case strings.ContainsAny(key, " \t/#"):
		return "", errors.New("not a domain name")
	}
	return key, nil
}

// Sets returns the sets the answers for name go to, or nil when no rule
// covers it (or f is nil: nftset off); it does not allocate.
func (f *Feeder) Sets(name string) *Target {
	if f == nil || len(f.domains) == 0 {
		return nil
	}
	n := len(name)
	if n > 0 && name[n-1] == '.' {
		n--
	}
	var buf [253]byte
	if n > len(buf) {
		return nil
	}
	for i := range n {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	b := buf[:n]
	// Longest suffix first, so the most specific rule wins.
	for i := 0; ; {
		if t, ok := f.domains[string(b[i:])]; ok {
			return t
		}
		j := 0
		for j < len(b)-i && b[i+j] != '.' {
			j++
		}
		if i+j >= len(b) {
			return nil
		}
		i += j + 1
	}
}

// Add puts the answer's A addresses into the IPv4 sets and its AAAA
// addresses into the IPv6 sets of the rule covering name, with a timeout of
// ttl plus the grace where the set has the timeout flag. It returns when the
// kernel has answered, or with ErrLate after AddTimeout (or ctx's end), in
// which case the add still completes; only an add that cannot even be
// queued for that long is dropped (and counted as failed). It keeps no
// reference to addrs, and does nothing on a nil Feeder.
func (f *Feeder) Add(ctx context.Context, name string, addrs []netip.Addr, ttl time.Duration) error {
	t := f.Sets(name)
	if t == nil || !t.takes(addrs) {
		return nil
	}
	// A copy: the add may outlive the call, and the caller may reuse addrs.
	r := &request{t: t, addrs: slices.Clone(addrs), timeout: max(ttl+f.grace, minTimeout), done: make(chan error, 1)}
	timer := time.NewTimer(f.addTimeout)
	defer timer.Stop()
	// Queue first when there is room: a select would pick at random between
	// the room and a wait already over, and drop the add.
	select {
	case f.reqs <- r:
	default:
		select {
		case f.reqs <- r:
		case <-f.quit:
			return ErrClosed
		case <-timer.C:
			return f.dropped(t)
		case <-ctx.Done():
			return f.dropped(t)
		}
	}
	select {
	case err := <-r.done:
		return err
	case <-timer.C:
	case <-ctx.Done():
	}
	select {
	case err := <-r.done: // answered as the wait ended
		return err
	default:
		f.late.Add(1)
		f.logFailure("nftset: add slower than the wait; the answer went out first", t.Domain, nil)
		return ErrLate
	}
}

// dropped counts and logs an add that never got into the queue.
func (f *Feeder) dropped(t *Target) error {
	f.failed.Add(1)
	err := errors.New("queue full for the whole wait")
	f.logFailure("nftset: add dropped", t.Domain, err)
	return fmt.Errorf("nftset %s: add: %w", t.Domain, err)
}

// takes reports whether any of addrs has a set to go to.
func (t *Target) takes(addrs []netip.Addr) bool {
	for _, a := range addrs {
		if (a.Unmap().Is4() && len(t.v4) > 0) || (a.Is6() && !a.Is4In6() && len(t.v6) > 0) {
			return true
		}
	}
	return false
}

// Stats returns the counts of adds since New.
func (f *Feeder) Stats() Stats {
	return Stats{Added: f.added.Load(), Failed: f.failed.Load(), Late: f.late.Load()}
}

// Close stops the owner goroutine and closes the netlink connection.
func (f *Feeder) Close() error {
	f.closeOnce.Do(func() { close(f.quit) })
	<-f.stopped
	return f.conn.CloseLasting()
}

// run owns the connection: it takes the adds waiting and sends them as one
// batch, so concurrent answers share a round trip to the kernel.
func (f *Feeder) run() {
	defer close(f.stopped)
	batch := make([]*request, 0, maxBatch)
	for {
		select {
		case <-f.quit:
			return
		case r := <-f.reqs:
			batch = append(batch[:0], r)
		more:
			for len(batch) < f.batchMax {
				select {
				case r := <-f.reqs:
					batch = append(batch, r)
				default:
					break more
				}
			}
			f.flush(batch)
			clear(batch)
		}
	}
}

// flush sends the batch; if the kernel refuses it, it retries each add
// alone, because the kernel applies a batch as one transaction and one bad
// add (a set deleted since New) would otherwise fail the others.
func (f *Feeder) flush(batch []*request) {
	err := f.send(batch...)
	if err != nil && len(batch) > 1 {
		for _, r := range batch {
			f.finish(r, f.send(r))
		}
		return
	}
	for _, r := range batch {
		f.finish(r, err)
	}
}

func (f *Feeder) finish(r *request, err error) {
	if err != nil {
		f.failed.Add(1)
		f.logFailure("nftset: add failed", r.t.Domain, err)
		err = fmt.Errorf("nftset %s: add: %w", r.t.Domain, err)
	} else {
		f.added.Add(1)
	}
	r.done <- err
}

func (f *Feeder) send(reqs ...*request) error {
	// One message per set for the whole batch: the kernel acks each message,
	// so fewer messages are fewer reads.
	type setElems struct {
		set   *nftables.Set
		elems []nftables.SetElement
	}
	var per []setElems
	queue := func(s *nftables.Set, r *request, v4 bool) {
		i := 0
		for i < len(per) && per[i].set != s {
			i++
		}
		if i == len(per) {
			per = append(per, setElems{set: s})
		}
		for _, a := range r.addrs {
			if a = a.Unmap(); a.Is4() == v4 {
				per[i].elems = append(per[i].elems, nftables.SetElement{Key: a.AsSlice(), Timeout: r.timeout})
			}
		}
	}
	for _, r := range reqs {
		for _, s := range r.t.v4 {
			queue(s, r, true)
		}
		for _, s := range r.t.v6 {
			queue(s, r, false)
		}
	}
	for _, p := range per {
		if len(p.elems) == 0 {
			continue
		}
		// The library sends the timeout only to sets with the timeout flag.
		if err := f.conn.SetAddElements(p.set, p.elems); err != nil {
			// Send what was queued so it does not ride on the next batch.
			return errors.Join(err, f.conn.Flush())
		}
	}
	return f.conn.Flush()
}

// logFailure logs at most one failure per failLogEvery and says how many
// were left out since the last line.
func (f *Feeder) logFailure(msg, domain string, err error) {
	now := f.now()
	f.logMu.Lock()
	if now.Before(f.logNext) {
		f.skipped++
		f.logMu.Unlock()
		return
	}
	skipped := f.skipped
	f.skipped, f.logNext = 0, now.Add(failLogEvery)
	f.logMu.Unlock()
	f.log.Warn(msg, "domain", domain, "err", err, "not_logged_since_last", skipped)
}
