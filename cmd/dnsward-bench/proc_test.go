package main

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a parenthesis, as /proc allows.
	stat := "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 9 0 100 1000 200"
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("cpu = %v, want %v", got, want)
	}
}

func TestParseUDPDrops(t *testing.T) {
	table := `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 5757: 0100007F:6363 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2679600 2 00000000ef8e2f55 1693
 5758: 0100007F:6364 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2679601 2 00000000ef8e2f56 0
`
	got := parseUDPDrops(table)
	if len(got) != 2 || got[2679600] != 1693 || got[2679601] != 0 {
		t.Errorf("drops = %v", got)
	}
	before, after := dropSnapshot{1: 10, 2: 5}, dropSnapshot{1: 15, 2: 5, 3: 7}
	if n := after.since(before); n != 12 {
		t.Errorf("since = %d, want 12 (5 more on one socket, 7 on a new one)", n)
	}
}

func TestParseSNMPField(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors\nUdp: 100 2 3 90 42\nUdpLite: InDatagrams RcvbufErrors\nUdpLite: 0 9\n"
	got, err := parseSNMPField(snmp, "Udp:", "RcvbufErrors")
	if err != nil || got != 42 {
		t.Errorf("RcvbufErrors = %d, %v; want 42", got, err)
	}
}

func TestParseMachineBusy(t *testing.T) {
	// user nice system idle iowait irq softirq steal: busy is 100+0+50+5+5+40.
	stat := "cpu  100 0 50 9000 300 5 5 40 0 0\ncpu0 50 0 25 4500 150 2 2 20 0 0\n"
	got, err := parseMachineBusy(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * time.Second; got != want {
		t.Errorf("busy = %v, want %v", got, want)
	}
}

func TestHarnessEnvDropsDnswardVariables(t *testing.T) {
	t.Setenv("DNSWARD_CACHE_SIZE", "1")
	t.Setenv("KEEP_ME", "1")
	env := harnessEnv()
	if slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "DNSWARD_") }) {
		t.Errorf("DNSWARD_ variable passed on: %v", env)
	}
	if !slices.Contains(env, "KEEP_ME=1") {
		t.Errorf("other variables dropped: %v", env)
	}
}

func TestBusiestOf(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name        string
		first, last map[string]cpuSample
		want        float64
	}{
		{"none", nil, nil, 0},
		{"the busier of two threads",
			map[string]cpuSample{"1": {0, at(0)}, "2": {time.Second, at(0)}},
			map[string]cpuSample{"1": {time.Second, at(4 * time.Second)}, "2": {4 * time.Second, at(4 * time.Second)}},
			75},
		{"counted from its first sample, not from zero",
			map[string]cpuSample{"1": {5 * time.Second, at(time.Second)}},
			map[string]cpuSample{"1": {7 * time.Second, at(3 * time.Second)}},
			100},
		{"a thread seen for under a second is left out",
			map[string]cpuSample{"1": {0, at(0)}, "2": {0, at(0)}},
			map[string]cpuSample{"1": {time.Second, at(2 * time.Second)}, "2": {900 * time.Millisecond, at(900 * time.Millisecond)}},
			50},
	}
	for _, tt := range tests {
		if got := busiestOf(tt.first, tt.last); got != tt.want {
			t.Errorf("%s: busiestOf = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestThreadTimes reads this test's own threads: the main thread's id is
// the process id, and a Go program runs more than one thread.
func TestThreadTimes(t *testing.T) {
	times, err := threadTimes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := times[strconv.Itoa(os.Getpid())]; !ok || len(times) < 2 {
		t.Errorf("threadTimes(self) = %v: want thread %d among several", times, os.Getpid())
	}
	if _, err := threadTimes(-1); err == nil {
		t.Error("threadTimes(-1): no error")
	}
}
