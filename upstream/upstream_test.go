package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDocumentStaleFallbackAndBackoff(t *testing.T) {
	now := time.Unix(1e9, 0)
	var fetches atomic.Int32
	fail := atomic.Bool{}
	d := &Document[string]{TTL: time.Minute, now: func() time.Time { return now }}
	d.Fetch = func(context.Context) (string, error) {
		fetches.Add(1)
		if fail.Load() {
			return "", errors.New("down")
		}
		return "v1", nil
	}
	ctx := context.Background()
	if v, err := d.Get(ctx); v != "v1" || err != nil {
		t.Fatalf("first Get: %q %v", v, err)
	}
	fail.Store(true)
	now = now.Add(2 * time.Minute) // stale
	for range 10 {
		if v, err := d.Get(ctx); v != "v1" || err != nil {
			t.Fatalf("stale fallback: %q %v", v, err)
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches: a failing refetch must back off", n)
	}
	// The wait doubles: 2 s, then 4 s.
	now = now.Add(2 * time.Second)
	d.Get(ctx)
	now = now.Add(3 * time.Second)
	d.Get(ctx)
	if n := fetches.Load(); n != 3 {
		t.Fatalf("%d fetches after 2 s and 5 s: want the second wait to be 4 s", n)
	}
	fail.Store(false)
	now = now.Add(2 * time.Second)
	d.Get(ctx)
	if n := fetches.Load(); n != 4 || d.LastError() != nil {
		t.Fatalf("recovery: %d fetches, last error %v", n, d.LastError())
	}
	// Refresh honours its minimum age.
	if _, fetched, _ := d.Refresh(ctx, time.Minute); fetched {
		t.Error("Refresh fetched a document younger than minAge")
	}
}

func TestDocumentFirstFailureIsAnError(t *testing.T) {
	d := &Document[*int]{Fetch: func(context.Context) (*int, error) { return nil, errors.New("down") }}
	if _, err := d.Get(context.Background()); err == nil {
		t.Fatal("no document and a failed fetch: want the error")
	}
	if _, err := d.Get(context.Background()); err == nil {
		t.Fatal("while backing off: want the error again")
	}
}

func TestDocumentCollapsesConcurrentFetches(t *testing.T) {
	var fetches atomic.Int32
	release := make(chan struct{})
	d := &Document[string]{Fetch: func(context.Context) (string, error) {
		fetches.Add(1)
		<-release
		return "v", nil
	}}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); d.Get(context.Background()) }()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches for 20 concurrent Gets", n)
	}
}

func TestClientRedirectsAndMarker(t *testing.T) {
	var sawMarker atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("elsewhere"))
	}))
	defer other.Close()
	var c *Client
	own := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/x", http.StatusFound)
		case "/hop":
			http.Redirect(w, r, "/doc", http.StatusFound)
		case "/doc":
			m := r.Header.Get(Header)
			sawMarker.Store(m)
			// The marker is valid while its fetch runs, and only then.
			probe := httptest.NewRequest(http.MethodGet, "/", nil)
			probe.Header.Set(Header, m)
			if !c.IsOwnFetch(probe) {
				t.Error("the marker of a fetch in flight is not recognised")
			}
			w.Write([]byte("doc"))
		}
	}))
	defer own.Close()
	c = NewClient(own.URL, 1<<10)
	ctx := context.Background()
	if _, err := c.Get(ctx, own.URL+"/away", ""); err == nil {
		t.Error("a redirect to another origin was followed")
	}
	if b, err := c.Get(ctx, own.URL+"/hop", ""); err != nil || string(b) != "doc" {
		t.Fatalf("same-origin redirect: %q %v", b, err)
	}
	m, _ := sawMarker.Load().(string)
	if m == "" {
		t.Fatal("no marker on the upstream's own origin")
	}
	probe := httptest.NewRequest(http.MethodGet, "/", nil)
	probe.Header.Set(Header, m)
	if c.IsOwnFetch(probe) {
		t.Error("a marker stayed valid after its fetch")
	}
	if probe.Header.Get(Header) != "" {
		t.Error("the marker header was not removed")
	}
}
