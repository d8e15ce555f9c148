package flows

import (
	"context"
	"sync"
	"time"
)

// Defaults for the zero PipelineOptions fields.
const (
	DefaultWindow  = 60 * time.Second
	DefaultMaxKeys = 65536
	DefaultRate    = 1000
)

// PipelineOptions configure a Pipeline.
type PipelineOptions struct {
	// Lookuper attributes each record; required.
	Lookuper Lookuper
	// Emit receives each record, under the pipeline's lock and in order;
	// it must not block for long nor call back into the Pipeline.
	Emit func(Flow)
	// Window is the suppression window; DefaultWindow when zero.
	Window time.Duration
	// MaxKeys bounds the windows held; DefaultMaxKeys when zero. A new
	// key past it closes the oldest window early.
	MaxKeys int
	// Rate caps records per second; DefaultRate when zero.
	Rate float64
	// Burst is the records allowed at once; Rate (at least 1) when zero.
	Burst int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// PipelineStats count what a Pipeline did, for metrics.
type PipelineStats struct {
	// In is every flow handed to the pipeline.
	In uint64
	// Emitted is every record emitted, first records and summaries.
	Emitted uint64
	// Folded is the flows folded into a window instead of a record.
	Folded uint64
	// Summaries is the records emitted at a window's end with Repeats.
	Summaries uint64
	// RateDropped is the records the per-second cap dropped.
	RateDropped uint64
	// Evicted is the windows closed early because MaxKeys were held.
	Evicted uint64
}

// Pipeline folds, attributes and caps flows. A flow whose (client address,
// destination, port, protocol, verdict) has no open window is emitted at
// once and opens a window; the same key's flows within the window are
// folded, and when the window ends a summary record (the latest folded
// flow, with Repeats set to how many were folded) is emitted if any were.
// The client's port is not part of the key: a host retrying a connection
// uses a new port each time. Records past Rate per second are dropped and
// counted. Safe for concurrent use.
type Pipeline struct {
	mu      sync.Mutex
	o       PipelineOptions
	windows map[flowKey]*window
	// head and tail link the open windows oldest first, so that expiry
	// and eviction look at the front only.
	head, tail *window
	free       []*window
	tokens     float64
	refilled   time.Time
	stats      PipelineStats
}

// flowKey is what suppression folds flows by. It is plain bytes, which the
// map hashes in one pass: with netip.Addrs, hashed field by field, the
// lookup was a tenth of the syslog source's CPU. An IPv4 address is in
// its IPv4-mapped form, and a zone tells no flows apart.
type flowKey struct {
	client, dest [16]byte
	port         uint16
	proto        Proto
	verdict      Verdict
}

type window struct {
	key        flowKey
	start      time.Time
	repeats    int
	last       Flow
	prev, next *window
}

// NewPipeline returns a Pipeline with o's defaults filled in.
func NewPipeline(o PipelineOptions) *Pipeline {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = max(int(o.Rate), 1)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// Sized for MaxKeys at once: a map growing under a stream of new keys
	// rehashed all it held at each step.
	return &Pipeline{o: o, windows: make(map[flowKey]*window, o.MaxKeys), tokens: float64(o.Burst)}
}

// Handle takes one flow from a source.
func (p *Pipeline) Handle(f Flow) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.o.Now()
	p.stats.In++
	p.expire(now)
	k := flowKey{client: f.Client.Addr().As16(), dest: f.Dest.Addr().As16(), port: f.Dest.Port(), proto: f.Proto, verdict: f.Verdict}
	if w := p.windows[k]; w != nil {
		w.repeats++
		w.last = f
		p.stats.Folded++
		return
	}
	if len(p.windows) >= p.o.MaxKeys {
		p.stats.Evicted++
		p.close(p.head, now)
	}
	w := p.alloc()
	*w = window{key: k, start: now, last: f}
	p.windows[k] = w
	p.pushBack(w)
	p.emit(f, now)
}

// Expire emits the summaries of the windows that have ended by now.
func (p *Pipeline) Expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(p.o.Now())
}

// Flush closes every open window, emitting the summaries due.
func (p *Pipeline) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.o.Now()
	for p.head != nil {
		p.close(p.head, now)
	}
}

// Run calls Expire every tick until ctx is done, then Flush.
func (p *Pipeline) Run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.Flush()
			return
		case <-t.C:
			p.Expire()
		}
	}
}

// Stats returns the counters so far.
func (p *Pipeline) Stats() PipelineStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

func (p *Pipeline) expire(now time.Time) {
	for p.head != nil && now.Sub(p.head.start) >= p.o.Window {
		p.close(p.head, now)
	}
}

// close ends w's window, emitting its summary if it folded any flow.
func (p *Pipeline) close(w *window, now time.Time) {
	if w.repeats > 0 {
		f := w.last
		f.Repeats = w.repeats
		p.stats.Summaries++
		p.emit(f, now)
	}
	delete(p.windows, w.key)
	p.unlink(w)
	*w = window{}
	p.free = append(p.free, w)
}

// emit attributes f and passes it on if the token bucket holds a token:
// a flow the cap drops costs no lookup.
func (p *Pipeline) emit(f Flow, now time.Time) {
	if el := now.Sub(p.refilled); el > 0 {
		p.tokens = min(float64(p.o.Burst), p.tokens+el.Seconds()*p.o.Rate)
	}
	p.refilled = now
	if p.tokens < 1 {
		p.stats.RateDropped++
		return
	}
	p.tokens--
	p.stats.Emitted++
	p.o.Emit(Attribute(f, p.o.Lookuper))
}

// alloc reuses a closed window, so a steady flow rate allocates nothing.
func (p *Pipeline) alloc() *window {
	if n := len(p.free); n > 0 {
		w := p.free[n-1]
		p.free = p.free[:n-1]
		return w
	}
	return new(window)
}

func (p *Pipeline) pushBack(w *window) {
	w.prev = p.tail
	if p.tail != nil {
		p.tail.next = w
	} else {
		p.head = w
	}
	p.tail = w
}

func (p *Pipeline) unlink(w *window) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		p.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		p.tail = w.prev
	}
}
