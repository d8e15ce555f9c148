package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Kernel UDP drops: a datagram that arrives while a socket's receive buffer
// is full is dropped by the kernel and counted on that socket (the "drops"
// column of /proc/net/udp) and system-wide (RcvbufErrors in /proc/net/snmp).
// dnsperf sees such a query as lost; these counters say which side lost it.

// udpDrops maps the inode of every IPv4 UDP socket to its drop counter.
func udpDrops() (map[uint64]uint64, error) {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return nil, err
	}
	return parseUDPDrops(string(b)), nil
}

// parseUDPDrops reads /proc/net/udp: after the header, each line is
// "sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ref pointer drops".
func parseUDPDrops(table string) map[uint64]uint64 {
	out := map[uint64]uint64{}
	lines := strings.Split(table, "\n")
	for _, line := range lines[min(1, len(lines)):] {
		f := strings.Fields(line)
		if len(f) < 13 {
			continue
		}
		inode, err1 := strconv.ParseUint(f[9], 10, 64)
		drops, err2 := strconv.ParseUint(f[12], 10, 64)
		if err1 == nil && err2 == nil {
			out[inode] = drops
		}
	}
	return out
}

// socketInodes lists the inodes of the sockets process pid holds open.
func socketInodes(pid int) ([]uint64, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if s, ok := strings.CutPrefix(target, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// dropSnapshot is the drop counters of one process's UDP sockets.
type dropSnapshot map[uint64]uint64

// snapshotDrops records the drop counters of pid's UDP sockets.
func snapshotDrops(pid int) (dropSnapshot, error) {
	all, err := udpDrops()
	if err != nil {
		return nil, err
	}
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	snap := dropSnapshot{}
	for _, in := range inodes {
		if d, ok := all[in]; ok {
			snap[in] = d
		}
	}
	return snap, nil
}

// since counts the drops on the sockets of after since before; a socket
// opened in between counts in full. Sockets closed before after was taken
// are not seen (a resolver that opens a socket per upstream query hides its
// drops there; the system-wide RcvbufErrors still shows them).
func (after dropSnapshot) since(before dropSnapshot) uint64 {
	var n uint64
	for in, d := range after {
		if d >= before[in] {
			n += d - before[in]
		}
	}
	return n
}

// rcvbufErrors is the system-wide count of UDP datagrams dropped for a full
// receive buffer (Udp: RcvbufErrors in /proc/net/snmp), any socket.
func rcvbufErrors() (uint64, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, err
	}
	return parseSNMPField(string(b), "Udp:", "RcvbufErrors")
}

// parseSNMPField finds field in the header line of proto and returns the
// number below it.
func parseSNMPField(snmp, proto, field string) (uint64, error) {
	var header []string
	for line := range strings.SplitSeq(snmp, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != proto {
			continue
		}
		if header == nil {
			header = f
			continue
		}
		for i, h := range header {
			if h == field && i < len(f) {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/net/snmp: no %s %s", proto, field)
}
