package lan

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// parseHosts reads the /etc/hosts format: an address, then names; '#'
// starts a comment.
func parseHosts(file string, data []byte) ([]entry, []error) {
	var entries []entry
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		addr, err := parseAddr(fields[0])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", file, n, err))
			continue
		}
		if len(fields) == 1 {
			errs = append(errs, fmt.Errorf("%s:%d: address %s has no names", file, n, addr))
			continue
		}
		entries = append(entries, entry{addr: addr, names: fields[1:], line: n})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", file, err))
	}
	return entries, errs
}

// parseAddr reads the address of a hosts or leases line. A zone names an
// interface of the machine that wrote the file and means nothing in an
// answer; an IPv4-mapped address is the IPv4 address, answered as A.
func parseAddr(s string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	case addr.Zone() != "":
		return netip.Addr{}, fmt.Errorf("address %q has a zone, which means nothing to the machines asking", s)
	}
	return addr.Unmap(), nil
}
