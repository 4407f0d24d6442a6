package sandbox

import (
	"runtime/metrics"
	"sync"
	"time"
)

// memoryGuard stops runs while the heap grows too far. goja cannot account
// memory per runtime, so a sampler reads the process heap while any run is
// in progress and interrupts every run that started below the limit and is
// now above it. Coarse, but it turns `s += s` into an error instead of an
// out-of-memory crash.
type memoryGuard struct {
	limit uint64

	mu      sync.Mutex
	runs    map[*guarded]struct{}
	running bool   // the sampler goroutine is alive
	heap    uint64 // last sample
}

// guarded is one run under watch.
type guarded struct {
	c    *call
	base uint64 // lowest heap seen since the run started
}

const memorySampleEvery = 2 * time.Millisecond

var heapMetric = "/memory/classes/heap/objects:bytes"

func newMemoryGuard(limit int64) *memoryGuard {
	if limit < 0 {
		return nil
	}
	return &memoryGuard{limit: uint64(limit), runs: make(map[*guarded]struct{})}
}

func (g *memoryGuard) enter(c *call) *guarded {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.running {
		g.running = true
		g.heap = readHeap()
		go g.sample()
	}
	r := &guarded{c: c, base: g.heap}
	g.runs[r] = struct{}{}
	return r
}

func (g *memoryGuard) leave(r *guarded) {
	if g == nil {
		return
	}
	g.mu.Lock()
	delete(g.runs, r)
	g.mu.Unlock()
}

// sample runs while runs are in progress, and lingers a little after the
// last one, so a busy server does not start a goroutine per run.
func (g *memoryGuard) sample() {
	t := time.NewTicker(memorySampleEvery)
	defer t.Stop()
	idle := 0
	for range t.C {
		heap := readHeap()
		g.mu.Lock()
		g.heap = heap
		if len(g.runs) == 0 {
			if idle++; idle > 500 {
				g.running = false
				g.mu.Unlock()
				return
			}
		}
		for r := range g.runs {
			if heap < r.base {
				r.base = heap
			} else if heap-r.base > g.limit {
				r.c.vm.Interrupt(errMemory)
				delete(g.runs, r) // once is enough
			}
		}
		g.mu.Unlock()
	}
}

func readHeap() uint64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
