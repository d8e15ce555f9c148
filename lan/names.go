// Package lan holds the LAN's own names: hosts files, DHCP leases and
// static records, answered by dnsward without asking upstream.
package lan

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Config says where the LAN's names come from.
type Config struct {
	// HostsFiles are read like /etc/hosts [addn-hosts].
	HostsFiles []string
	// LeasesFiles are dnsmasq or ISC dhcpd lease files.
	LeasesFiles []string
	// Records are zone-file lines [address=, host-record=, cname=].
	Records []string
	// Domain is appended to single-label names from hosts and leases
	// [domain=, expand-hosts].
	Domain string
	// TTL is given to every answer from hosts and leases.
	TTL time.Duration
}

// Names is an immutable snapshot of the LAN's names.
type Names struct {
	byName map[string][]dns.RR // lowercased FQDN
	// leaseHosts is each leased address's host name, the device name
	// Devices reports.
	leaseHosts map[netip.Addr]string
	// files is the hosts and leases files' stamp taken before they were
	// read, so that Watch sees a change made while or after they were.
	files string
}

// Lookup returns the records of name for qtype, following CNAMEs inside
// the LAN data; found is false when the name is not in the data at all.
func (n *Names) Lookup(name string, qtype uint16) (answer []dns.RR, found bool) {
	name = strings.ToLower(dns.Fqdn(name))
	for range 8 {
		rrs, ok := n.byName[name]
		if !ok {
			return answer, found
		}
		found = true
		next := ""
		for _, rr := range rrs {
			t := rr.Header().Rrtype
			switch {
			case t == qtype:
				answer = append(answer, rr)
			case t == dns.TypeCNAME:
				answer = append(answer, rr)
				next = strings.ToLower(rr.(*dns.CNAME).Target)
			}
		}
		if next == "" {
			return answer, found
		}
		name = next
	}
	return answer, found
}

// Len is how many names are known.
func (n *Names) Len() int { return len(n.byName) }

// ErrUnreadable marks a source that could not be read at all, as opposed
// to one with bad lines: a caller reloading keeps its previous names then.
var ErrUnreadable = errors.New("unreadable")

// Load reads every source. Bad lines are skipped and reported in the
// returned error, each with file and line, so one typo never hides the
// rest of a file; an unreadable file is an error wrapping ErrUnreadable.
func Load(cfg Config) (*Names, error) {
	b := &builder{names: &Names{byName: map[string][]dns.RR{}, leaseHosts: map[netip.Addr]string{}, files: stamp(cfg.files())}, cfg: cfg}
	var errs []error
	for i, line := range cfg.Records {
		if err := b.record(line); err != nil {
			errs = append(errs, fmt.Errorf("local record %d %q: %w", i+1, line, err))
		}
	}
	for _, file := range cfg.HostsFiles {
		errs = append(errs, b.readFile(file, parseHosts, false))
	}
	for _, file := range cfg.LeasesFiles {
		errs = append(errs, b.readFile(file, parseLeases, true))
	}
	return b.names, errors.Join(errs...)
}

// entry is one address-to-names binding from a hosts or leases file.
type entry struct {
	addr  netip.Addr
	names []string
	line  int
}

type builder struct {
	names *Names
	cfg   Config
	seen  map[string]bool // PTR names already given, so the first name wins
}

// readFile adds a hosts or leases file's names; a lease's name is also its
// address's device name.
func (b *builder) readFile(file string, parse func(string, []byte) ([]entry, []error), leases bool) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	entries, errs := parse(file, data)
	for _, e := range entries {
		for i, name := range e.names {
			if err := b.host(e.addr, name, i == 0); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %w", file, e.line, err))
			} else if leases && i == 0 {
				b.names.leaseHosts[e.addr.Unmap()] = strings.ToLower(strings.TrimSuffix(name, "."))
			}
		}
	}
	return errors.Join(errs...)
}

func (b *builder) record(line string) error {
	rr, err := dns.NewRR(line)
	if err != nil {
		return err
	}
	if rr == nil {
		return errors.New("empty record")
	}
	b.add(rr)
	return nil
}

// host binds name (and name.Domain for a single label) to addr; the first
// name of an entry also gets the PTR record.
func (b *builder) host(addr netip.Addr, name string, canonical bool) error {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if !validHostname(name) {
		return fmt.Errorf("invalid host name %q", name)
	}
	names := []string{name}
	if !strings.Contains(name, ".") && b.cfg.Domain != "" {
		names = append(names, name+"."+strings.Trim(b.cfg.Domain, "."))
	}
	hdr := func(owner string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: uint32(b.cfg.TTL / time.Second)}
	}
	for _, n := range names {
		fqdn := dns.Fqdn(n)
		if addr.Is4() {
			b.add(&dns.A{Hdr: hdr(fqdn, dns.TypeA), A: addr.AsSlice()})
		} else {
			b.add(&dns.AAAA{Hdr: hdr(fqdn, dns.TypeAAAA), AAAA: addr.AsSlice()})
		}
	}
	if canonical {
		rev, _ := dns.ReverseAddr(addr.String())
		if b.seen == nil {
			b.seen = map[string]bool{}
		}
		if !b.seen[rev] {
			b.seen[rev] = true
			b.add(&dns.PTR{Hdr: hdr(rev, dns.TypePTR), Ptr: dns.Fqdn(names[len(names)-1])})
		}
	}
	return nil
}

func (b *builder) add(rr dns.RR) {
	name := strings.ToLower(rr.Header().Name)
	for _, old := range b.names.byName[name] {
		if dns.IsDuplicate(old, rr) {
			return
		}
	}
	b.names.byName[name] = append(b.names.byName[name], rr)
}

// validHostname accepts letters, digits, hyphens and underscores in labels
// of 1 to 63 characters: what hosts files and DHCP clients legitimately use.
func validHostname(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
