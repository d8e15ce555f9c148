package flows

import (
	"reflect"
	"testing"
	"time"

	"github.com/dnsward/dnsward/querylog"
)

func TestRecordKeepsTheFlow(t *testing.T) {
	f := Flow{Time: t0.Add(4 * time.Minute), Client: ap("10.0.0.5:40004"), Dest: ap("[2001:db8::25]:25"), Proto: ProtoTCP,
		Verdict: VerdictDropped, Prefix: "egress drop: ", Attribution: OtherClient, Repeats: 3,
		Names: []Name{{Client: ip("10.0.0.9"), Name: "mx.mail.example", Chain: []string{"mail.example"},
			FirstAsked: t0.Add(-time.Hour), LastAsked: t0, ValidUntil: t0.Add(5 * time.Minute)}}}
	got := Record(f)
	want := querylog.FlowRecord{Time: f.Time, Client: ip("10.0.0.5"), ClientPort: 40004,
		Dest: ip("2001:db8::25"), DestPort: 25, Proto: "tcp", Verdict: "dropped", Prefix: "egress drop: ",
		Attribution: "other_client", Repeats: 3, Names: []querylog.FlowName{{Name: "mx.mail.example", Client: ip("10.0.0.9"),
			Chain: []string{"mail.example"}, FirstAsked: t0.Add(-time.Hour), LastAsked: t0, ValidUntil: t0.Add(5 * time.Minute)}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Record = %+v\nwant %+v", got, want)
	}
	f.Attribution = SameClient
	if got := Record(f); got.Names[0].Client.IsValid() {
		t.Errorf("same_client name carries its client %v", got.Names[0].Client)
	}
}
