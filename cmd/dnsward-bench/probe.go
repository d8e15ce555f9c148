package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dnsward/dnsward/testserver"
	"github.com/miekg/dns"
)

// exchange asks 127.0.0.1:port one question over UDP within 1 s.
func exchange(ctx context.Context, port int, name string, qtype uint16) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	r, _, err := c.ExchangeContext(ctx, m, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	return r, err
}

// checkAnswer asks for name (under gen.test) and checks the answer is the
// address the test resolver synthesises for it.
func checkAnswer(ctx context.Context, port int, name string) error {
	r, err := exchange(ctx, port, name, dns.TypeA)
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("%s: rcode %s", name, dns.RcodeToString[r.Rcode])
	}
	want := testserver.GeneratedAddr(name).String()
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok && a.A.String() == want {
			return nil
		}
	}
	return fmt.Errorf("%s: answer %v, want A %s", name, r.Answer, want)
}

// readyName is the name waitReady asks s for.
func readyName(s *server) string { return fmt.Sprintf("ready-%s-%d.gen.test", s.name, s.port) }

// readyPoll is how long waitReady waits between questions. It is short
// because the time to the first answer is the blocklist's load time: until
// a server binds its port a question is refused at once, so the poll
// interval is all the slack the measurement has.
const readyPoll = 10 * time.Millisecond

// waitReady polls s until it answers readyName correctly (and records
// when, in s.answered), s exits, or limit passes.
func waitReady(ctx context.Context, s *server, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	name := readyName(s)
	var err error
	for {
		if err = checkAnswer(ctx, s.port, name); err == nil {
			s.answered = time.Now()
			return nil
		}
		if done, werr := s.proc.exited(); done {
			// The lab's directory goes when the run ends: say what the
			// server said, not only where.
			said, _ := os.ReadFile(s.logFile)
			return fmt.Errorf("%s exited before answering: %v (log %s): %s", s.name, werr, s.logFile, lastLines(string(said), 5))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s on port %d not answering after %s: %w (log %s)", s.name, s.port, limit, err, s.logFile)
		case <-time.After(readyPoll):
		}
	}
}

// spotCheck asks for each of names and reports every wrong or missing
// answer: dnsperf only sees rcodes, not whether the address is right.
func spotCheck(ctx context.Context, port int, names []string) error {
	var errs []error
	for _, n := range names {
		if err := checkAnswer(ctx, port, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// isBlocked reports whether name gets NXDOMAIN, as a blocked name does
// under dnsward's default blocklists.response.
func isBlocked(ctx context.Context, port int, name string) (bool, error) {
	r, err := exchange(ctx, port, name, dns.TypeA)
	if err != nil {
		return false, err
	}
	return r.Rcode == dns.RcodeNameError, nil
}

// scrapeMetrics reads dnsward's Prometheus text and sums each wanted metric
// over its labels.
func scrapeMetrics(ctx context.Context, addr string, wanted ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(f[0], "{")
		for _, w := range wanted {
			if name == w {
				if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
					out[w] += v
				}
			}
		}
	}
	return out, sc.Err()
}
