package flows

import "github.com/dnsward/dnsward/querylog"

// Record is f as the query log records it. The names carry their asker
// only with other_client: for same_client it is the flow's client.
func Record(f Flow) querylog.FlowRecord {
	r := querylog.FlowRecord{
		Time:        f.Time.UTC(),
		Client:      f.Client.Addr().Unmap(),
		ClientPort:  f.Client.Port(),
		Dest:        f.Dest.Addr().Unmap(),
		DestPort:    f.Dest.Port(),
		Proto:       f.Proto.String(),
		Verdict:     f.Verdict.String(),
		Prefix:      f.Prefix,
		Attribution: f.Attribution.String(),
		Repeats:     f.Repeats,
	}
	if len(f.Names) > 0 {
		r.Names = make([]querylog.FlowName, len(f.Names))
	}
	for i, n := range f.Names {
		r.Names[i] = querylog.FlowName{Name: n.Name, Chain: n.Chain, FirstAsked: n.FirstAsked, LastAsked: n.LastAsked, ValidUntil: n.ValidUntil}
		if f.Attribution == OtherClient {
			r.Names[i].Client = n.Client.Unmap()
		}
	}
	return r
}
