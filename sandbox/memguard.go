package sandbox

import (
	"fmt"
	"math"
	goruntime "runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// memoryGuard stops a run that makes the heap keep more than its limit.
// goja cannot account memory per runtime, so a sampler reads what the
// garbage collector reports for the process while any run is in progress.
// What it must never blame on a run is the process's live heap, however
// large, or its garbage, however much. So it judges a run by how much the
// live heap (what a collection found reachable) has grown since the run
// began, beyond what the collector's pacing explains.
//
// One collection's figure is noisy: it counts what was allocated while it
// marked as reachable, and the next collection frees most of that. So the
// guard takes the lower live heap of the last two collections, measures
// from the lowest one seen since the run began, and allows on top of the
// limit half the collector's runway (heap goal minus live heap, the
// smallest seen since the run began). The runway is small for a small heap
// and shrinks as a GOMEMLIMIT comes near. A run is stopped when
//
//   - the live heap has grown by more than the limit beyond that, or
//   - it has grown by more than half the limit beyond that, and the heap,
//     garbage included, by more than the limit beyond twice the runway
//     (the heap rightly grows by a runway between collections, and the
//     goal moves with the live heap): a bomb that also makes garbage is
//     stopped before it keeps the whole limit.
//
// Over runs of a second under churn of small objects and 64 KiB buffers
// on two busy cores, at 8 MiB to 1 GiB live, neither rule would have
// stopped a run at a limit of 17 MiB or more. Churn of MiB-sized blocks is
// another matter in a small heap: with 1 to 4 MiB blocks the first rule
// needed up to 107 MiB and the second 215 MiB (nothing at 1 GiB live);
// with 16 MiB blocks in an 8 MiB heap both figures swing by hundreds of
// MiB, and no guard that reads the process can tell that from a hook.
// With GOGC=off and no GOMEMLIMIT there is no collection, so no guard.
type memoryGuard struct {
	limit uint64

	mu      sync.Mutex
	runs    map[*guarded]struct{}
	running bool // the sampler goroutine is alive
	heap    heapState

	collecting atomic.Bool // see collect
}

// guarded is one run under watch.
type guarded struct {
	c      *call
	live   uint64 // lowest settled live heap since the run began
	heap   uint64 // lowest heap since the run began
	runway uint64 // smallest runway since the run began
}

// heapState is what the collector last reported.
type heapState struct {
	cycles  uint64 // collections completed
	live    uint64 // what the last collection found reachable
	settled uint64 // the lower live heap of the last two collections
	goal    uint64 // where the next collection is due
	heap    uint64 // the heap's objects, garbage not yet swept included
}

func (h heapState) runway() uint64 {
	if h.goal <= h.live {
		return 0
	}
	return h.goal - h.live
}

// memoryExceeded is the interrupt value of a run stopped by the guard.
type memoryExceeded struct{ live, heap, limit uint64 }

func (m *memoryExceeded) String() string {
	return fmt.Sprintf("live heap grew by %d MiB (the heap by %d MiB) during the run, past the limit of %d MiB",
		m.live>>20, m.heap>>20, m.limit>>20)
}

const memorySampleEvery = 2 * time.Millisecond

// memoryIdleSamples is how long the sampler lingers after the last run, so
// a busy server does not start a goroutine per run.
const memoryIdleSamples = 500

func newMemoryGuard(limit int64) *memoryGuard {
	if limit < 0 {
		return nil
	}
	return &memoryGuard{limit: uint64(limit), runs: make(map[*guarded]struct{})}
}

// enter puts c under watch, filling r (which lives in c: no allocation).
func (g *memoryGuard) enter(c *call, r *guarded) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.running {
		g.running = true
		g.heap = readHeap(heapState{})
		go g.sample()
	}
	*r = guarded{c: c, live: g.heap.live, heap: g.heap.heap, runway: g.heap.runway()}
	g.runs[r] = struct{}{}
}

func (g *memoryGuard) leave(r *guarded) {
	if g == nil {
		return
	}
	g.mu.Lock()
	delete(g.runs, r)
	g.mu.Unlock()
}

// check returns why r must stop, or nil.
func (g *memoryGuard) check(r *guarded, h heapState) *memoryExceeded {
	r.live, r.heap, r.runway = min(r.live, h.settled), min(r.heap, h.heap), min(r.runway, h.runway())
	if r.runway > (math.MaxUint64-g.limit)/4 { // no goal: GOGC=off, no GOMEMLIMIT
		return nil
	}
	live, heap := h.settled-r.live, h.heap-r.heap
	if live > r.runway/2+g.limit || live > r.runway/2+g.limit/2 && heap > 2*r.runway+g.limit {
		return &memoryExceeded{live: live, heap: heap, limit: g.limit}
	}
	return nil
}

// collect starts a collection after a run the guard stopped, unless one
// it started is still going. The bomb pushed the collector's goal to twice
// what it kept: without this the heap would grow that far again before its
// memory came back, and every run until then would be judged with that
// runway.
func (g *memoryGuard) collect() {
	if g == nil || !g.collecting.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer g.collecting.Store(false)
		goruntime.GC()
	}()
}

// sample runs while runs are in progress, and lingers a little after the
// last one.
func (g *memoryGuard) sample() {
	t := time.NewTicker(memorySampleEvery)
	defer t.Stop()
	idle := 0
	for range t.C {
		g.mu.Lock()
		g.heap = readHeap(g.heap)
		if len(g.runs) > 0 {
			idle = 0
		} else if idle++; idle > memoryIdleSamples {
			g.running = false
			g.mu.Unlock()
			return
		}
		for r := range g.runs {
			if m := g.check(r, g.heap); m != nil {
				r.c.vm.Interrupt(m)
				delete(g.runs, r) // once is enough
			}
		}
		g.mu.Unlock()
	}
}

var heapMetrics = [...]string{
	"/gc/cycles/total:gc-cycles",
	"/gc/heap/live:bytes",
	"/gc/heap/goal:bytes",
	"/memory/classes/heap/objects:bytes",
}

// readHeap samples the collector's figures; prev carries the live heap of
// the collection before into the settled one.
func readHeap(prev heapState) heapState {
	var s [len(heapMetrics)]metrics.Sample
	for i, name := range heapMetrics {
		s[i].Name = name
	}
	metrics.Read(s[:])
	value := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	h := heapState{cycles: value(0), live: value(1), goal: value(2), heap: value(3)}
	switch {
	case prev.goal == 0: // first sample
		h.settled = h.live
	case h.cycles != prev.cycles:
		h.settled = min(prev.live, h.live)
	default:
		h.settled = prev.settled
	}
	return h
}
