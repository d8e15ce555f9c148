package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dnsward/dnsward/config"
	"github.com/dnsward/dnsward/flows"
	"github.com/dnsward/dnsward/querylog"
)

// runFlows is "dnsward flows": the flow records of the query log summed up
// per client, the flows no lookup explains first, for the admin to read
// over coffee rather than grep for an hour.
func runFlows(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagSet("flows", stderr)
	configFlags(fs, "config", "querylog")
	from := fs.StringArray("from", nil, "log `file` to read, plain or gzipped (repeatable)")
	since := fs.String("since", "", "only flows at or after `time`: "+whenForms)
	until := fs.String("until", "", "only flows before `time`: "+whenForms)
	client := fs.String("client", "", "only clients in `network` (CIDR or address)")
	unexplained := fs.Bool("unexplained", false, "only flows no lookup explains (attribution no_lookup)")
	top := fs.Int("top", 10, "destinations shown per client, `n`; 0 shows all")
	if err := parse(fs, args); err != nil {
		return err
	}
	var sel flowFilter
	var err error
	if sel.since, sel.until, err = parseSpan(*since, *until, time.Now()); err != nil {
		return err
	}
	if *client != "" {
		if sel.client, err = config.ParsePrefix(*client); err != nil {
			return fmt.Errorf("--client: %w", err)
		}
	}
	if *top < 0 {
		return fmt.Errorf("--top %d: want 0 (all) or more", *top)
	}
	sel.unexplained = *unexplained
	files, err := logFiles(fs, *from)
	if err != nil {
		return err
	}
	var sum flowSummary
	scanErr := querylog.ScanFlows(ctx, files, func(f *querylog.FlowRecord) error {
		if sel.match(f) {
			sum.add(f)
		}
		return nil
	})
	if scanErr != nil && !errors.Is(scanErr, querylog.ErrMalformed) {
		return scanErr
	}
	if err := sum.write(stdout, *top); err != nil {
		return err
	}
	return scanErr // malformed lines: reported after what could be read
}

// parseSpan reads the --since and --until flags that querylog export and
// flows share; empty ones select everything.
func parseSpan(since, until string, now time.Time) (from, to time.Time, err error) {
	if from, err = parseWhen(since, now); err != nil {
		return from, to, fmt.Errorf("--since: %w", err)
	}
	if to, err = parseWhen(until, now); err != nil {
		return from, to, fmt.Errorf("--until: %w", err)
	}
	return from, to, nil
}

// flowFilter selects flow records; zero fields match everything.
type flowFilter struct {
	since, until time.Time // since inclusive, until exclusive
	client       netip.Prefix
	unexplained  bool
}

func (s flowFilter) match(f *querylog.FlowRecord) bool {
	switch {
	case !s.since.IsZero() && f.Time.Before(s.since),
		!s.until.IsZero() && !f.Time.Before(s.until),
		s.client.IsValid() && !s.client.Contains(f.Client.Unmap()),
		s.unexplained && f.Attribution != attrNoLookup:
		return false
	}
	return true
}

// The attributions as records spell them, from flows' own names.
var (
	attrNoLookup    = flows.NoLookup.String()
	attrOtherClient = flows.OtherClient.String()
)

// attrRank orders destinations: unexplained first, then those only other
// clients looked up, then the explained ones.
func attrRank(a string) int {
	switch a {
	case attrNoLookup:
		return 0
	case attrOtherClient:
		return 1
	}
	return 2
}

// flowDest is one client's destination, the unit of the summary.
type flowDest struct {
	client netip.Addr
	dest   netip.AddrPort
	proto  string
}

// destSum is what the records of one flowDest add up to.
type destSum struct {
	flows int // records plus their repeats
	// attribution is the least explained one seen, which ranks the
	// destination: a flow without a lookup is the news, even among
	// explained ones.
	attribution            string
	attributions, verdicts map[string]int  // flows of each
	names                  map[string]bool // "name" or "name (other client)"
	first, last            time.Time
}

// flowSummary adds flow records up per client and destination.
type flowSummary struct {
	dests map[flowDest]*destSum
}

func (s *flowSummary) add(f *querylog.FlowRecord) {
	k := flowDest{f.Client.Unmap(), netip.AddrPortFrom(f.Dest.Unmap(), f.DestPort), f.Proto}
	if s.dests == nil {
		s.dests = map[flowDest]*destSum{}
	}
	d := s.dests[k]
	if d == nil {
		d = &destSum{attribution: f.Attribution, attributions: map[string]int{}, verdicts: map[string]int{}, names: map[string]bool{}, first: f.Time, last: f.Time}
		s.dests[k] = d
	}
	// A summary record stands for the flows folded into it, the first
	// record of its window for itself alone.
	n := max(f.Repeats, 1)
	d.flows += n
	d.verdicts[f.Verdict] += n
	d.attributions[f.Attribution] += n
	if attrRank(f.Attribution) < attrRank(d.attribution) {
		d.attribution = f.Attribution
	}
	for _, nm := range f.Names {
		if nm.Client.IsValid() && nm.Client.Unmap() != k.client {
			d.names[nm.Name+" ("+nm.Client.Unmap().String()+")"] = true
		} else {
			d.names[nm.Name] = true
		}
	}
	if f.Time.Before(d.first) {
		d.first = f.Time
	}
	if f.Time.After(d.last) {
		d.last = f.Time
	}
}

// write prints one block per client, the clients with the most
// unexplained flows first, each with its top destinations: unexplained,
// then other_client, then explained, the busiest first within each.
func (s *flowSummary) write(w io.Writer, top int) error {
	type clientSum struct {
		addr               netip.Addr
		flows, unexplained int
		dests              []flowDest
	}
	byClient := map[netip.Addr]*clientSum{}
	for k, d := range s.dests {
		c := byClient[k.client]
		if c == nil {
			c = &clientSum{addr: k.client}
			byClient[k.client] = c
		}
		c.flows += d.flows
		c.unexplained += d.attributions[attrNoLookup]
		c.dests = append(c.dests, k)
	}
	clients := make([]*clientSum, 0, len(byClient))
	for _, c := range byClient {
		clients = append(clients, c)
	}
	slices.SortFunc(clients, func(a, b *clientSum) int {
		return cmp.Or(cmp.Compare(b.unexplained, a.unexplained), cmp.Compare(b.flows, a.flows), a.addr.Compare(b.addr))
	})
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if len(clients) == 0 {
		io.WriteString(tw, "no flow records\n")
	}
	for i, c := range clients {
		slices.SortFunc(c.dests, func(a, b flowDest) int {
			da, db := s.dests[a], s.dests[b]
			return cmp.Or(cmp.Compare(attrRank(da.attribution), attrRank(db.attribution)), cmp.Compare(db.flows, da.flows),
				a.dest.Compare(b.dest), strings.Compare(a.proto, b.proto))
		})
		if i > 0 {
			io.WriteString(tw, "\n")
		}
		fmt.Fprintf(tw, "CLIENT %s: %d flows, %d unexplained, %d destinations\n", c.addr, c.flows, c.unexplained, len(c.dests))
		io.WriteString(tw, "ATTRIBUTION\tDEST\tPROTO\tFLOWS\tVERDICTS\tFIRST\tLAST\tNAMES\n")
		shown := c.dests
		if top > 0 && len(shown) > top {
			shown = shown[:top]
		}
		for _, k := range shown {
			d := s.dests[k]
			attr, names := d.attribution, "-"
			if len(d.attributions) > 1 {
				attr = joinCounts(d.attributions)
			}
			if len(d.names) > 0 {
				names = strings.Join(slices.Sorted(maps.Keys(d.names)), ", ")
			}
			io.WriteString(tw, attr+"\t"+k.dest.String()+"\t"+k.proto+"\t"+strconv.Itoa(d.flows)+"\t"+
				joinCounts(d.verdicts)+"\t"+d.first.UTC().Format(flowTime)+"\t"+d.last.UTC().Format(flowTime)+"\t"+names+"\n")
		}
		if n := len(c.dests) - len(shown); n > 0 {
			fmt.Fprintf(tw, "… %d more destinations (--top 0 shows all)\n", n)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("flows: %w", err)
	}
	return nil
}

// flowTime is to the second: a summary spans hours or days.
const flowTime = "2006-01-02T15:04:05Z07:00"

// joinCounts writes counts as "dropped=3 new=5", sorted by key.
func joinCounts(m map[string]int) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + strconv.Itoa(m[k]))
	}
	return b.String()
}
