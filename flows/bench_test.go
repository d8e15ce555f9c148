package flows

import (
	"io"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnsward/dnsward/answers"
)

const (
	benchEntries = 1_000_000
	benchClients = 1000
)

func benchAddr(j int) netip.Addr {
	return netip.AddrFrom4([4]byte{100, byte(j >> 16), byte(j >> 8), byte(j)})
}

func benchClient(c int) netip.Addr {
	return netip.AddrFrom4([4]byte{192, 168, byte(c >> 8), byte(c)})
}

// BenchmarkPipeline pushes flows through suppression and the join
// against the real answer index (package answers) holding 1,000,000
// entries: 200,000 distinct keys cycled, more than the 65,536 windows
// held, so every flow opens a window and is joined (the worst case);
// half of the destinations answered to the same client, half to another,
// one in eleven to nobody; the clock moves 50 µs per flow (20,000
// flows/s), so windows open, expire and are evicted as in use.
func BenchmarkPipeline(b *testing.B) {
	ix := answers.New(answers.Options{MaxEntries: benchEntries})
	for j := range benchEntries {
		ix.Observe(answers.Answer{Client: benchClient(j % benchClients), Name: "n.example", TTL: 24 * time.Hour, At: t0.Add(-time.Hour)}, benchAddr(j))
	}
	// Full: each shard holds its share, and one that drew more addresses
	// than its share evicted the surplus, as in use.
	if n := ix.Len(); n < benchEntries*99/100 {
		b.Fatalf("index holds %d entries, want about %d", n, benchEntries)
	}
	lk := IndexLookuper{Index: ix}
	const keys = 200_000
	flows := make([]Flow, keys)
	for i := range flows {
		j := (i * 7919) % (benchEntries + benchEntries/10)
		c := (j + i%2) % benchClients
		flows[i] = Flow{Client: netip.AddrPortFrom(benchClient(c), uint16(30000+i%30000)), Dest: netip.AddrPortFrom(benchAddr(j), 443), Proto: ProtoTCP, Verdict: VerdictNew}
	}
	clock := newFakeClock(t0)
	emitted := 0
	p := NewPipeline(PipelineOptions{Lookuper: lk, Emit: func(Flow) { emitted++ }, Now: clock.Now, Rate: 1e9})
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for i := 0; b.Loop(); i++ {
		f := flows[i%keys]
		clock.Advance(50 * time.Microsecond)
		f.Time = clock.Now()
		p.Handle(f)
	}
	b.StopTimer()
	// CPU time as well as wall time: on a shared machine the wall time
	// per flow counts other processes' turns.
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/flow")
	st := p.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
	b.ReportMetric(float64(st.Emitted)/float64(b.N), "records/flow")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkParseSyslogLine(b *testing.B) {
	line := "<4>Dec  1 12:00:01 OpenWrt kernel: [12345.678901] " + kernelV4
	b.ReportAllocs()
	for b.Loop() {
		msg, _ := parseSyslog(line)
		if _, ok := parseKernelLog(msg); !ok {
			b.Fatal("not parsed")
		}
	}
}

// BenchmarkFrameReader reads octet-counted frames from a stream, as a
// router's TCP syslog sends them: a frame costs no allocation.
func BenchmarkFrameReader(b *testing.B) {
	line := "<4>Dec  1 12:00:01 OpenWrt kernel: " + kernelV4
	frame := strconv.Itoa(len(line)) + " " + line
	stream := strings.NewReader(strings.Repeat(frame, 1000))
	fr := newFrameReader(stream, DefaultSyslogMaxLine)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fr.next(); err == io.EOF {
			stream.Seek(0, io.SeekStart)
			fr.r.Reset(stream)
		} else if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePacket(b *testing.B) {
	pkt := ipPacket(ip("2001:db8::2"), ip("2001:db8:1::1"), 6, 40000, 443, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, ok := parsePacket(pkt); !ok {
			b.Fatal("not parsed")
		}
	}
}
