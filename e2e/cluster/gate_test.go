package cluster

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gate stands between the instances and the webhook verifier: it holds
// each delivery for delay before passing it on, so that deliveries are
// in flight when a test needs them to be (an instance killed
// mid-delivery). A delivery whose sender goes away while it is held
// (the sender was killed) is dropped, never passed on: only another
// instance's attempt can deliver that message then.
type gate struct {
	URL   string
	delay atomic.Int64 // nanoseconds

	mu       sync.Mutex
	inFlight int
	cut      map[string]bool // webhook-ids dropped because their sender went away
}

func startGate(t *testing.T, verifier string) *gate {
	t.Helper()
	target, err := url.Parse(verifier)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{cut: map[string]bool{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		// Read first: the server notices a sender gone (and ends the
		// request's context) only once the body is read.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		g.mu.Lock()
		g.inFlight++
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			g.inFlight--
			g.mu.Unlock()
		}()
		select {
		case <-time.After(time.Duration(g.delay.Load())):
		case <-r.Context().Done():
			g.mu.Lock()
			g.cut[id] = true
			g.mu.Unlock()
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

func (g *gate) setDelay(d time.Duration) { g.delay.Store(int64(d)) }

func (g *gate) held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight
}

// dropped are the webhook-ids of the deliveries cut so far.
func (g *gate) dropped() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ids []string
	for id := range g.cut {
		ids = append(ids, id)
	}
	return ids
}
