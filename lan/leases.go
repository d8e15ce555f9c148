package lan

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// parseLeases reads a dnsmasq leases file ("expiry mac ip name clientid")
// or an ISC dhcpd.leases file ("lease IP { ... }"), telling them apart by
// the first word. Expired and released leases are skipped.
func parseLeases(file string, data []byte) ([]entry, []error) {
	if first := strings.Fields(firstLine(data)); len(first) > 0 && first[0] == "lease" {
		return parseISC(file, data, time.Now())
	}
	return parseDnsmasq(file, data, time.Now())
}

func firstLine(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}

func parseDnsmasq(file string, data []byte, now time.Time) ([]entry, []error) {
	var entries []entry
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] == "duid" {
			continue
		}
		if len(f) < 4 {
			errs = append(errs, fmt.Errorf("%s:%d: want 'expiry mac address name', got %d fields", file, n, len(f)))
			continue
		}
		expiry, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: expiry %q is not a number", file, n, f[0]))
			continue
		}
		addr, err := parseAddr(f[2])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", file, n, err))
			continue
		}
		if f[3] == "*" || (expiry != 0 && time.Unix(expiry, 0).Before(now)) {
			continue
		}
		entries = append(entries, entry{addr: addr, names: []string{f[3]}, line: n})
	}
	return entries, errs
}

func parseISC(file string, data []byte, now time.Time) ([]entry, []error) {
	type block struct {
		entry
		inForce bool
	}
	var blocks []block
	var errs []error
	var cur *entry
	active, expired := false, false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(strings.TrimSpace(sc.Text()), ";")
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "lease" && f[2] == "{":
			addr, err := parseAddr(f[1])
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %w", file, n, err))
				continue
			}
			cur, active, expired = &entry{addr: addr, line: n}, false, false
		case cur == nil:
		case len(f) == 1 && f[0] == "}":
			blocks = append(blocks, block{*cur, active && !expired && len(cur.names) > 0})
			cur = nil
		case len(f) >= 2 && f[0] == "client-hostname":
			cur.names = []string{strings.Trim(f[1], `"`)}
		case len(f) >= 3 && f[0] == "binding" && f[1] == "state":
			active = f[2] == "active"
		case len(f) >= 4 && f[0] == "ends" && f[1] != "never":
			ends, err := time.Parse("2006/01/02 15:04:05", f[2]+" "+f[3])
			expired = err == nil && ends.Before(now)
		}
	}
	// dhcpd appends a new block per renewal or release, so only the last
	// block for an address says whether it is in force.
	last := map[netip.Addr]int{}
	for i, b := range blocks {
		last[b.addr] = i
	}
	var entries []entry
	for i, b := range blocks {
		if last[b.addr] == i && b.inForce {
			entries = append(entries, b.entry)
		}
	}
	return entries, errs
}
