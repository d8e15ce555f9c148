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
		addr, err := netip.ParseAddr(fields[0])
		if err != nil || addr.Zone() != "" {
			errs = append(errs, fmt.Errorf("%s:%d: %q is not an IP address", file, n, fields[0]))
			continue
		}
		if len(fields) == 1 {
			errs = append(errs, fmt.Errorf("%s:%d: address %s has no names", file, n, addr))
			continue
		}
		entries = append(entries, entry{addr: addr.Unmap(), names: fields[1:], line: n})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", file, err))
	}
	return entries, errs
}
