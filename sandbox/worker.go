package sandbox

import "time"

// workers runs hook runs on long-lived goroutines. A run needs its own
// goroutine (so Run can return at the deadline whatever the runtime is
// doing), and a fresh goroutine would grow its stack through goja's deep
// call chains on every run: reused ones have grown already.
type workers struct {
	tasks chan func()
}

// workerIdle is how long an idle worker waits for more work before exiting.
const workerIdle = 30 * time.Second

func newWorkers() *workers { return &workers{tasks: make(chan func())} }

// do runs f on an idle worker, or on a new one if none is waiting.
func (w *workers) do(f func()) {
	select {
	case w.tasks <- f:
	default:
		go w.loop(f)
	}
}

func (w *workers) loop(f func()) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		runTask(f)
		t.Reset(workerIdle)
		select {
		case f = <-w.tasks:
		case <-t.C:
			return
		}
	}
}

// runTask runs one task; a panic that its own recovery missed ends the task,
// not the process (tasks report their results themselves, so there is
// nothing else to do here).
func runTask(f func()) {
	defer func() { _ = recover() }()
	f()
}
