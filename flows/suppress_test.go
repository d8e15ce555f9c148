package flows

import (
	"context"
	"fmt"
	"testing"
	"time"
)

type recorder struct{ got []Flow }

func (r *recorder) emit(f Flow) { r.got = append(r.got, f) }

func newTestPipeline(clock *fakeClock, o PipelineOptions) (*Pipeline, *recorder) {
	r := &recorder{}
	o.Emit, o.Now = r.emit, clock.Now
	if o.Lookuper == nil {
		o.Lookuper = mapLookuper{}
	}
	return NewPipeline(o), r
}

func dropFlow(clientPort uint16, at time.Time) Flow {
	return Flow{Time: at, Client: ap(fmt.Sprintf("192.0.2.10:%d", clientPort)), Dest: ap("203.0.113.5:25"), Proto: ProtoTCP, Verdict: VerdictDropped, Prefix: "dnsward-drop"}
}

func TestPipelineFoldsRepeatsIntoOneSummary(t *testing.T) {
	clock := newFakeClock(t0)
	p, r := newTestPipeline(clock, PipelineOptions{})
	// A host retrying every second from a new port: 30 tries in one window.
	for i := range 30 {
		p.Handle(dropFlow(uint16(40000+i), clock.Now()))
		clock.Advance(time.Second)
	}
	if len(r.got) != 1 || r.got[0].Repeats != 0 || r.got[0].Client.Port() != 40000 || r.got[0].Attribution != NoLookup {
		t.Fatalf("before the window ends: %+v, want the first flow alone, attributed", r.got)
	}
	clock.Advance(30 * time.Second) // 60 s after the first
	p.Expire()
	if len(r.got) != 2 || r.got[1].Repeats != 29 || r.got[1].Client.Port() != 40029 || r.got[1].Attribution != NoLookup {
		t.Fatalf("after the window: %+v, want a summary of 29 repeats", r.got)
	}
	// The next try opens a new window and is emitted at once.
	p.Handle(dropFlow(41000, clock.Now()))
	p.Expire()
	if len(r.got) != 3 || r.got[2].Repeats != 0 {
		t.Fatalf("next window: %+v", r.got)
	}
	st := p.Stats()
	if st.In != 31 || st.Emitted != 3 || st.Folded != 29 || st.Summaries != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPipelineKeys(t *testing.T) {
	clock := newFakeClock(t0)
	p, r := newTestPipeline(clock, PipelineOptions{})
	base := dropFlow(40000, t0)
	for _, f := range []Flow{
		base,
		func() Flow { f := base; f.Client = ap("192.0.2.10:40001"); return f }(), // same key: port of client not in it
		func() Flow { f := base; f.Client = ap("192.0.2.11:40000"); return f }(),
		func() Flow { f := base; f.Dest = ap("203.0.113.6:25"); return f }(),
		func() Flow { f := base; f.Dest = ap("203.0.113.5:587"); return f }(),
		func() Flow { f := base; f.Proto = ProtoUDP; return f }(),
		func() Flow { f := base; f.Verdict = VerdictNew; return f }(),
	} {
		p.Handle(f)
	}
	if len(r.got) != 6 {
		t.Fatalf("%d records, want 6 (one per key)", len(r.got))
	}
	p.Flush()
	if len(r.got) != 7 || r.got[6].Repeats != 1 {
		t.Fatalf("flush: %+v", r.got[6:])
	}
}

func TestPipelineRateCap(t *testing.T) {
	clock := newFakeClock(t0)
	p, r := newTestPipeline(clock, PipelineOptions{Rate: 10, Burst: 5})
	for i := range 20 { // 20 distinct keys at one instant
		p.Handle(Flow{Time: t0, Client: ap("192.0.2.10:1"), Dest: ap(fmt.Sprintf("203.0.113.%d:80", i)), Proto: ProtoTCP, Verdict: VerdictNew})
	}
	if len(r.got) != 5 || p.Stats().RateDropped != 15 {
		t.Fatalf("burst: %d emitted, stats %+v", len(r.got), p.Stats())
	}
	clock.Advance(time.Second / 2) // refills 5 tokens
	for i := range 10 {
		p.Handle(Flow{Time: clock.Now(), Client: ap("192.0.2.10:1"), Dest: ap(fmt.Sprintf("203.0.113.%d:81", i)), Proto: ProtoTCP, Verdict: VerdictNew})
	}
	if len(r.got) != 10 || p.Stats().RateDropped != 20 {
		t.Fatalf("refill: %d emitted, stats %+v", len(r.got), p.Stats())
	}
}

func TestPipelineBoundedKeys(t *testing.T) {
	clock := newFakeClock(t0)
	p, r := newTestPipeline(clock, PipelineOptions{MaxKeys: 3})
	for i := range 5 {
		f := Flow{Time: t0, Client: ap("192.0.2.10:1"), Dest: ap(fmt.Sprintf("203.0.113.%d:80", i)), Proto: ProtoTCP, Verdict: VerdictNew}
		p.Handle(f)
		p.Handle(f) // one repeat each
		clock.Advance(time.Millisecond)
	}
	if n := len(p.windows); n != 3 {
		t.Fatalf("%d windows held, want 3", n)
	}
	// Keys 0 and 1 were evicted oldest first, each summary before the
	// record of the key that took its place.
	want := []string{"203.0.113.0:80/0", "203.0.113.1:80/0", "203.0.113.2:80/0", "203.0.113.0:80/1", "203.0.113.3:80/0", "203.0.113.1:80/1", "203.0.113.4:80/0"}
	var got []string
	for _, f := range r.got {
		got = append(got, fmt.Sprintf("%v/%d", f.Dest, f.Repeats))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records %v\nwant %v", got, want)
	}
	if st := p.Stats(); st.Evicted != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPipelineRunFlushesAtEnd(t *testing.T) {
	clock := newFakeClock(t0)
	p, r := newTestPipeline(clock, PipelineOptions{})
	p.Handle(dropFlow(1, t0))
	p.Handle(dropFlow(2, t0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Run(ctx, time.Hour)
	if len(r.got) != 2 || r.got[1].Repeats != 1 {
		t.Fatalf("records %+v", r.got)
	}
}
