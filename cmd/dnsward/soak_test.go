//go:build soak

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// TestSoak runs mixed load with upstream faults for SOAK_DURATION (default
// 5m): resident memory and goroutines must be flat at the end, and the
// query log must hold a record set for every query answered.
func TestSoak(t *testing.T) {
	duration := 5 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("SOAK_DURATION")); err == nil {
		duration = d
	}
	ts := testserver.ForTest(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "queries.log")
	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--upstream", ts.Stamp, "--upstream", ts.PlainUDP(),
		"--querylog", logFile, "--metrics", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "DNSWARD_RATE_LIMIT_QPS=0",
		"DNSWARD_CACHE_SIZE=20000", "DNSWARD_QUERY_TIMEOUT=1s", "DNSWARD_UPSTREAM_TIMEOUT=400ms")
	lines, addr, metricsAddr := startServing(t, cmd)
	// The program log is kept for a failure report; read on, so that a
	// long run never blocks the program on a full pipe.
	var stderr bytes.Buffer
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for l := range lines {
			stderr.WriteString(l + "\n")
		}
	}()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Faults: the upstream goes silent, slow and back, over and over.
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				ts.SetSilent(false)
				ts.SetDelay(0)
				return
			case <-time.After(3 * time.Second):
			}
			ts.SetSilent(i%4 == 1)
			ts.SetDelay(time.Duration(i%3) * 50 * time.Millisecond)
		}
	})
	var answered, errs atomic.Int64
	const clients = 8
	for c := range clients {
		wg.Go(func() {
			client := &dns.Client{Timeout: 2 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var name string
				switch i % 5 {
				case 0, 1:
					name = fmt.Sprintf("hot%d.gen.test.", i%100) // cache hits
				case 2:
					name = fmt.Sprintf("c%d-%d.gen.test.", c, i) // misses
				case 3:
					name = "teredo.ipv6.microsoft.com." // blocked
				case 4:
					name = fmt.Sprintf("nx%d.example.test.", i%500) // negative
				}
				if _, _, err := client.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr); err != nil {
					errs.Add(1)
					continue
				}
				answered.Add(1)
			}
		})
	}
	sample := func() (rss, goroutines float64) {
		return procRSS(t, cmd.Process.Pid), metric(t, metricsAddr, "go_goroutines")
	}
	time.Sleep(duration / 4)
	rss1, g1 := sample()
	time.Sleep(duration * 3 / 4)
	rss2, g2 := sample()
	close(stop)
	wg.Wait()
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	<-drained
	if err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	t.Logf("%d queries answered, %d client timeouts; RSS %.1f MB -> %.1f MB; goroutines %.0f -> %.0f",
		answered.Load(), errs.Load(), rss1/1e6, rss2/1e6, g1, g2)
	if rss2 > rss1*1.5+20e6 {
		t.Errorf("resident memory grew from %.1f MB to %.1f MB", rss1/1e6, rss2/1e6)
	}
	if g2 > g1*1.5+50 {
		t.Errorf("goroutines grew from %.0f to %.0f", g1, g2)
	}
	// One query id per answered query; a client that timed out may still
	// have been answered (and logged) late, so the log may hold more.
	qids := map[string]bool{}
	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, `"qid":"`)
		if i < 0 {
			t.Fatalf("bad log line %q", line)
		}
		qid := line[i+7:]
		qids[qid[:strings.IndexByte(qid, '"')]] = true
	}
	logged := int64(len(qids))
	if logged < answered.Load() || logged > answered.Load()+errs.Load() {
		t.Errorf("%d queries logged, %d answered (+%d timed out)", logged, answered.Load(), errs.Load())
	}
}

func procRSS(t *testing.T, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func metric(t *testing.T, addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(body)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
