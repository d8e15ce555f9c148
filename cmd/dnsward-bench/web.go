package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// webRounds is how often the web workload runs with and without the
// browsers, alternating; each row is the variant's median round.
const webRounds = 5

// The web workload's two variants, as the table names them.
const (
	webBrowsers   = "web page, five browsers"
	webNoBrowsers = "web page, no browser"
)

// webFloor is issue 24's bound on the page's cost: cache-hit qps with five
// browsers open at least this share of the qps with none.
const webFloor = 0.97

// webBrowserCount is how many browsers the workload opens.
const webBrowserCount = 5

// webStats is the web workload: one dnsward with web.listen set, its
// cache-hit qps with five browsers on the page and with none.
type webStats struct {
	Rounds         [][]*runStats
	Browsers, None *runStats
	// Requests and Events are what the browsers got over every round:
	// HTTP answers and server-sent events.
	Requests, Events uint64
}

// webPhase is the web workload: a dnsward with its page on, run through
// the cache-hit workload webRounds times with five simulated browsers
// and webRounds times without, alternating.
func (b *bench) webPhase(ctx context.Context, ts *server) error {
	st := &webStats{}
	b.res.web = st
	b.step("web page: dnsward cache hits with %d browsers on the page and with none, %d rounds", webBrowserCount, webRounds)
	webPort, err := b.lab.freePort()
	if err != nil {
		return err
	}
	s, err := b.lab.startDnsward(ctx, dnswardOpts{upstream: ts.stamp, cacheSize: b.opts.cacheSize(), webPort: webPort})
	defer b.stopAll(s)
	if err != nil {
		return err
	}
	if err := warm(ctx, s, b.spec(s.port, b.hot), b.hotNames()); err != nil {
		return err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d/", webPort)
	for r := range webRounds {
		order := []bool{true, false}
		if r%2 == 1 {
			order = []bool{false, true}
		}
		var round []*runStats
		for _, open := range order {
			if ctx.Err() != nil {
				break
			}
			if !open {
				round = append(round, b.record("web page", measure(ctx, s, ts, webNoBrowsers, b.spec(s.port, b.hot))))
				continue
			}
			bctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			counts := make([]browserCounts, webBrowserCount)
			for i := range counts {
				wg.Go(func() { counts[i] = browse(bctx, base) })
			}
			round = append(round, b.record("web page", measure(ctx, s, ts, webBrowsers, b.spec(s.port, b.hot))))
			stop()
			wg.Wait()
			for _, c := range counts {
				st.Requests += c.requests
				st.Events += c.events
				if c.err != nil {
					b.note("web page: a browser: %v", c.err)
				}
			}
		}
		st.Rounds = append(st.Rounds, round)
	}
	medians := medianRuns(st.Rounds)
	st.Browsers, st.None = findVariant(medians, "dnsward", webBrowsers), findVariant(medians, "dnsward", webNoBrowsers)
	return ctx.Err()
}

// browserCounts is what one simulated browser got, and its first failure.
type browserCounts struct {
	requests, events uint64
	err              error
}

// The page's own timers (web/static/app.js): the charts every 10 s, the
// top lists every 30 s.
const (
	seriesEvery = 10 * time.Second
	topEvery    = 30 * time.Second
)

// browse does what the page does in a browser until ctx ends: loads the
// page and its script and style, opens the event stream and reads it, and
// polls the series and top lists at the page's rates.
func browse(ctx context.Context, base string) browserCounts {
	var c browserCounts
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if c.err == nil && ctx.Err() == nil {
			c.err = err
		}
	}
	hc := &http.Client{}
	defer hc.CloseIdleConnections()
	get := func(path string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			fail(err)
			return
		}
		resp, err := hc.Do(req)
		if err != nil {
			fail(err)
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			fail(fmt.Errorf("GET %s: %s %v", path, resp.Status, err))
			return
		}
		mu.Lock()
		c.requests++
		mu.Unlock()
	}
	for _, p := range []string{"", "app.js", "style.css", "api/series?span=hour", "api/top?span=hour"} {
		get(p)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		n, err := readStream(ctx, hc, base+"api/stream")
		mu.Lock()
		c.events += n
		mu.Unlock()
		if err != nil {
			fail(err)
		}
	})
	series, top := time.NewTicker(seriesEvery), time.NewTicker(topEvery)
	defer series.Stop()
	defer top.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return c
		case <-series.C:
			get("api/series?span=hour")
		case <-top.C:
			get("api/top?span=hour")
		}
	}
}

// readStream reads the server-sent events at url until ctx ends and
// counts them.
func readStream(ctx context.Context, hc *http.Client, url string) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n uint64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "event: ") {
			n++
		}
	}
	return n, nil
}

// webSection writes the web workload's figures and its floor.
func webSection(b *strings.Builder, st *webStats, tmp string) {
	if st == nil {
		b.WriteString("## Web page: the cost of five browsers\n\nNot measured in this run.\n\n")
		return
	}
	var rows []*runStats
	for _, r := range []*runStats{st.Browsers, st.None} {
		if r != nil {
			rows = append(rows, r)
		}
	}
	section(b, "Web page: the cost of five browsers",
		fmt.Sprintf("The cache-hit run of table 1 against one dnsward with `web.listen` set, with %d browsers on the page and with none; %d rounds, alternating which goes first; each row is the median round. The browsers are HTTP clients doing what the page's script does: load the page, its script and style, hold the event stream open (unfiltered, every query) and poll the charts every 10 s and the top lists every 30 s; over every round they got %s answers and %s events. Every round's qps: %s, %s.",
			webBrowserCount, webRounds, thousands(int64(st.Requests)), thousands(int64(st.Events)),
			webBrowsers+" "+roundsQPS(st.Rounds, "dnsward ("+webBrowsers+")"), webNoBrowsers+" "+roundsQPS(st.Rounds, "dnsward ("+webNoBrowsers+")")),
		rows, nil, nil, tmp)
	f := webFloorOf(st)
	fmt.Fprintf(b, "- **%s** — %s\n\n", f.verdict(), f.line())
}

// webFloorOf judges issue 24's floor: with five browsers on the page,
// cache-hit qps at least webFloor of the qps with none, in the same run.
func webFloorOf(st *webStats) floor {
	f := floor{text: fmt.Sprintf("cache hits with %d browsers open on the page: at least %.2f× the qps with none, 0 lost", webBrowserCount, webFloor)}
	if st.Browsers != nil && st.None != nil {
		with, without := st.Browsers.Perf.QPS, st.None.Perf.QPS
		f.text += fmt.Sprintf(": %s qps with, %s without = %s (dnsward's CPU per answer: %s µs with, %s µs without)",
			thousands(int64(with)), thousands(int64(without)), ratio(with, without), cpuPerAnswer(st.Browsers), cpuPerAnswer(st.None))
		f.judge(with >= webFloor*without, append(roundsOf(st.Rounds, st.Browsers.label()), roundsOf(st.Rounds, st.None.label())...)...)
	}
	return f
}
