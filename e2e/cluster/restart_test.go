package cluster

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"sync"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery/webhook"
	"github.com/idphooks/idphooks/internal/e2etest"
	"github.com/idphooks/idphooks/internal/testidp"
	"github.com/idphooks/idphooks/internal/whverifier"
)

// Redis killed and started again (AOF, appendfsync always) while both
// instances issue rewritten tokens and accept events: nothing accepted is
// lost. Every token answered before, during or after the restart still
// swaps back (its claim edits reach userinfo, its ID token's original
// reaches the IdP as id_token_hint), every accepted event is delivered,
// and what could not be accepted was refused with the documented 503.
func TestRedisRestartUnderLoad(t *testing.T) {
	secret := webhook.GenerateSecret()
	rcv := whverifier.Start(t, []string{secret}, nil, nil)
	receiver := rcv.URL + "/events"
	c := startCluster(t, clusterOptions{
		hooks: map[string]string{"claims.js": e2etest.ClaimsHook},
		extra: webhookBlock(receiver, secret),
		lease: restartLease,
	})
	t.Cleanup(func() { ensureRedis(t) })
	jar, _ := cookiejar.New(nil)
	lb := c.client(jar, nil)
	cl, _ := idp.Client(testidp.OIDCProviderPostClientID)
	f := login(t, c, lb, cl)

	var (
		mu       sync.Mutex
		issued   []tokenAnswer
		refused  int
		lastNo   time.Time // the last refusal
		other    []tokenAnswer
		events   []string
		eventsNo = map[int]int{}
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				a := refreshGrant(lb, c.issuer, cl, f.Token.RefreshToken)
				mu.Lock()
				switch {
				case a.err == nil && a.status == http.StatusOK:
					issued = append(issued, a)
				case a.unavailable():
					refused++
					lastNo = time.Now()
				default:
					other = append(other, a)
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range []*caddyProc{c.A, c.B} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id, status, err := trySendTest(p, receiver)
				mu.Lock()
				if err == nil && status == http.StatusAccepted {
					events = append(events, id)
				} else {
					eventsNo[status]++
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	mu.Lock()
	before := len(issued)
	mu.Unlock()
	if err := redis.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := redis.Restart(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("token answers: %d rewritten (%d before the kill), %d refused with 503, the last %v after Redis answered again; events: %d accepted, refused %v",
		len(issued), before, refused, lastNo.Sub(back).Round(time.Millisecond), len(events), eventsNo)
	for i, a := range other {
		if i < 5 {
			t.Errorf("token answer neither a token nor the documented 503: %d %q %v", a.status, a.body, a.err)
		}
	}
	if before == 0 || len(issued) == before {
		t.Fatalf("no tokens issued before and after the restart (%d, %d)", before, len(issued))
	}

	// Every token still swaps back, through either instance.
	viaA, viaB := c.client(jar, c.A), c.client(jar, c.B)
	var lost int
	check := func(i int, a tokenAnswer) {
		via := []*http.Client{viaA, viaB}[i%2]
		if status, ui := userinfoClaims(t, via, c.issuer, a.access); status != http.StatusOK || ui["tier"] != "gold" {
			mu.Lock()
			lost++
			if lost <= 5 {
				t.Errorf("token %d of %d: userinfo %d %v: its claim edits are lost", i, len(issued), status, ui)
			}
			mu.Unlock()
		}
		if status, body := hintStatus(t, via, c.issuer, a.id); status != http.StatusOK {
			mu.Lock()
			lost++
			if lost <= 5 {
				t.Errorf("token %d of %d: id_token_hint %d %.200s: its original is lost", i, len(issued), status, body)
			}
			mu.Unlock()
		}
	}
	work := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				check(i, issued[i])
			}
		}()
	}
	for i := range issued {
		work <- i
	}
	close(work)
	wg.Wait()
	if lost > 0 {
		t.Errorf("%d swaps of %d tokens lost", lost, len(issued))
	}

	// A lease Redis granted as it was killed, its answer lost, holds its
	// message for the lease before another attempt: wait past it.
	var missing []string
	for deadline := time.Now().Add(restartLease + 15*time.Second); ; time.Sleep(100 * time.Millisecond) {
		missing = missingIDs(rcv.Log(t), events)
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d accepted events never delivered, e.g. %v", len(missing), len(events), missing[:min(5, len(missing))])
		for _, id := range missing[:min(5, len(missing))] {
			t.Logf("%s, as B's admin endpoint shows it: %s", id, adminGet(t, c.B, "/idp-hooks/deliveries?id="+id))
		}
	}
}

// restartLease is the delivery lease of TestRedisRestartUnderLoad.
const restartLease = 16 * time.Second

// adminGet is the body of GET path on p's admin endpoint.
func adminGet(t *testing.T, p *caddyProc, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + path)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// ensureRedis starts the package's redis-server again if a test left it
// stopped.
func ensureRedis(t *testing.T) {
	if redis.PID() == 0 {
		if err := redis.Restart(); err != nil {
			t.Error(err)
		}
	}
}
