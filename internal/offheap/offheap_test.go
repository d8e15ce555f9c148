package offheap

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssKiB is this process's resident size.
func rssKiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("skipped: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Skip("skipped: no VmRSS in /proc/self/status")
	return 0
}

// A mapping is zeroed, resident once written, and gives its pages back
// when released, reading as zeroes again.
func TestMapReleaseUnmap(t *testing.T) {
	const n = 64 << 20
	before := rssKiB(t)
	s, err := Map[uint64](n / 8)
	if err != nil {
		t.Fatal(err)
	}
	if s[0] != 0 || s[len(s)-1] != 0 {
		t.Fatal("a fresh mapping is not zeroed")
	}
	for i := range s {
		s[i] = uint64(i) + 1
	}
	if grew := rssKiB(t) - before; grew < n/1024/2 {
		t.Errorf("writing 64 MiB grew RSS by %d KiB", grew)
	}
	written := rssKiB(t)
	if err := Release(s); err != nil {
		t.Fatal(err)
	}
	if fell := written - rssKiB(t); fell < n/1024/2 {
		t.Errorf("releasing 64 MiB shrank RSS by %d KiB", fell)
	}
	if s[12345] != 0 {
		t.Error("a released page still holds what was written")
	}
	if err := Unmap(s); err != nil {
		t.Fatal(err)
	}
	if err := Unmap[uint64](nil); err != nil {
		t.Errorf("Unmap(nil) = %v", err)
	}
}
