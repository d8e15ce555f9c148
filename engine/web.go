package engine

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/metrics"
	"github.com/dnsward/dnsward/querylog"
	"github.com/dnsward/dnsward/web"
	"github.com/miekg/dns"
)

// webPage is the read-only page when web.listen is set: its figures,
// filled from every answered query, and the listener the command bound.
type webPage struct {
	w *web.Web
	l net.Listener
}

// newWebPage builds the page for cfg over the engine's figures, nil when
// web.listen is empty. The figures are the metrics' own: the page counts
// no query twice.
func (e *Engine) newWebPage(cfg *config.Config) *webPage {
	if cfg.Web.Listen == "" {
		return nil
	}
	return &webPage{w: web.New(web.FromConfig(cfg.Web), web.Sources{
		Totals: func() (metrics.Totals, error) { return e.stats.Totals() },
		Who:    e.serveWebWho,
		Why:    e.why,
	})}
}

// ServeWeb hands the engine the page's listener, bound by the caller
// before privileges are dropped; Start serves it. It must come before
// Start, and only when web.listen is set.
func (e *Engine) ServeWeb(l net.Listener) {
	if e.web != nil {
		e.web.l = l
	}
}

// startWeb runs the page's tally and, with a listener, its server, until
// the engine stops.
func (e *Engine) startWeb() {
	if e.web == nil {
		return
	}
	if e.flows != nil {
		e.flows.web.Store(e.web.w)
	}
	e.web.w.Sample()
	e.wg.Go(func() { e.web.w.Run(e.work) })
	if e.web.l == nil {
		return
	}
	e.logger.Info("web page", "listen", e.web.l.Addr().String())
	e.wg.Go(func() {
		if err := metrics.Serve(e.work, e.web.l, e.web.w.Handler()); err != nil {
			e.logger.Error("web", "err", err)
		}
	})
}

// observeWeb hands one answered query to the page, which never blocks.
func (e *Engine) observeWeb(entry *querylog.Entry) {
	if e.web == nil {
		return
	}
	e.web.w.Observe(web.Event{
		Time: entry.Time, Client: entry.Client.Addr().Unmap(), Host: entry.Device.Host,
		Name: strings.TrimSuffix(entry.Question.Name, "."), Type: dns.TypeToString[entry.Question.Qtype],
		Source: entry.Source, Rcode: querylog.RcodeName(entry.Rcode), Upstream: entry.Upstream,
		BlockList: entry.BlockList, BlockRule: entry.BlockRule, LatencyMS: float64(entry.Latency.Microseconds()) / 1000,
	})
}

// serveWebWho answers the page's "who is this IP" as the control socket
// does, from the answer index; when the index is off, from the query log
// files, which is slower but holds everything still on disk.
func (e *Engine) serveWebWho(w http.ResponseWriter, r *http.Request) {
	if e.answers != nil {
		serveWho(w, r, e.answers)
		return
	}
	q, err := parseWho(r)
	if err != nil {
		replyWho(w, http.StatusBadRequest, WhoResponse{Error: err.Error()})
		return
	}
	e.mu.Lock()
	file, grace := e.cfg.QueryLog.File, e.cfg.Answers.Grace
	e.mu.Unlock()
	if file == "" {
		replyWho(w, http.StatusServiceUnavailable, WhoResponse{Error: "the answer index is off (answers.enabled: false) and there is no query log file (querylog.file)"})
		return
	}
	wq := querylog.WhoQuery{IP: q.addr, At: q.at, Grace: grace}
	if q.client.IsValid() {
		wq.Client.Prefix = netip.PrefixFrom(q.client, q.client.BitLen())
	}
	rows, err := querylog.WhoRows(r.Context(), querylog.Files(file), wq)
	if err != nil {
		replyWho(w, http.StatusInternalServerError, WhoResponse{Error: err.Error()})
		return
	}
	resp := WhoResponse{Entries: make([]WhoEntry, len(rows)), From: "log"}
	for i, row := range rows {
		client, _ := netip.ParseAddr(row.Client)
		var chain []string
		if row.Chain != "" {
			chain = strings.Split(row.Chain, " > ")
		}
		resp.Entries[i] = WhoEntry{Client: client, MAC: row.MAC, Host: row.Host, Name: row.QName, Chain: chain,
			FirstAsked: row.First, LastAsked: row.Last, ValidUntil: row.ValidUntil}
	}
	replyWho(w, http.StatusOK, resp)
}

// why asks the running block stage about name for client.
func (e *Engine) why(name string, client netip.Addr) web.Why {
	e.mu.Lock()
	blocks := e.blocks
	e.mu.Unlock()
	m, blocked := blocks.Match(name, client)
	w := web.Why{Name: name, Blocked: blocked, List: m.List, Rule: m.Rule}
	if client.IsValid() {
		w.Client = client.String()
	}
	return w
}

// webFlow is a flow record as the page shows it.
func webFlow(r querylog.FlowRecord) web.Flow {
	f := web.Flow{Time: r.Time, Client: r.Client, Dest: netip.AddrPortFrom(r.Dest, r.DestPort).String(), Proto: r.Proto,
		Verdict: r.Verdict, Attribution: r.Attribution, Repeats: r.Repeats}
	for _, n := range r.Names {
		f.Names = append(f.Names, n.Name)
	}
	return f
}
