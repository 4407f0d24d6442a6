package groupcommit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

var errClosed = errors.New("closed")

// Writes waiting together go in one batch, up to max by weight (one
// heavier than max alone); each caller gets its own op's answer; a
// caller that gives up gets ctx's error; after stop, closed.
func TestBatches(t *testing.T) {
	stop := make(chan struct{})
	b := New[int](stop)
	release := make(chan struct{})
	var mu sync.Mutex
	var batches [][]int
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Loop(10, func(v int) int { return v }, func(ops []*Op[int]) {
			<-release
			var vs []int
			for _, o := range ops {
				vs = append(vs, o.Value)
				if o.Value == 3 {
					o.Done(errors.New("three"))
				} else {
					o.Done(nil)
				}
			}
			mu.Lock()
			batches = append(batches, vs)
			mu.Unlock()
		})
	}()
	ctx := context.Background()
	errs := make(chan error, 8)
	// The first write holds the loop (release), the next ones gather.
	go func() { errs <- b.Submit(ctx, 1, errClosed) }()
	time.Sleep(50 * time.Millisecond)
	var wg sync.WaitGroup
	for _, v := range []int{3, 4, 5, 20} {
		wg.Go(func() { errs <- b.Submit(ctx, v, errClosed) })
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	var threes int
	for range 5 {
		if err := <-errs; err != nil {
			if err.Error() != "three" {
				t.Fatal(err)
			}
			threes++
		}
	}
	if threes != 1 {
		t.Fatalf("%d callers got the failing op's answer", threes)
	}
	mu.Lock()
	for _, vs := range batches {
		sum := 0
		for _, v := range vs {
			sum += v
		}
		if len(vs) > 1 && sum-vs[len(vs)-1] >= 10 {
			t.Errorf("batch %v went on past its weight", vs)
		}
	}
	if len(batches) < 2 || len(batches) > 5 {
		t.Errorf("batches %v", batches)
	}
	mu.Unlock()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Submit(canceled, 1, errClosed); !errors.Is(err, context.Canceled) {
		t.Fatalf("a canceled caller: %v", err)
	}
	close(stop)
	<-done
	if err := b.Submit(ctx, 1, errClosed); !errors.Is(err, errClosed) {
		t.Fatalf("after stop: %v", err)
	}
}
