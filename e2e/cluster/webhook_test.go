package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery/webhook"
	"github.com/idphooks/idphooks/internal/testidp"
	"github.com/idphooks/idphooks/internal/whverifier"
)

// webhookBlock is the idp_hooks lines of a notify webhook to url for
// after_login: an attempt's timeout under a 3 s lease (the deliverer
// refuses a lease that is not longer), retries a second apart.
func webhookBlock(url, secret string) string {
	return fmt.Sprintf(`webhook %s {
			events after_login
			secret %s
			allow_hosts 127.0.0.1
			timeout 2s
			max_concurrency 2
			retry_schedule 0s 1s 1s 1s 1s 1s 1s 1s 1s 1s
		}`, url, secret)
}

// Events raised on both instances reach one receiver, a real Standard
// Webhooks verifier, through the shared queue. Instance A is killed with
// SIGKILL while deliveries are held at a slow receiver: every event
// either instance accepted is delivered at least once, those A was
// delivering when it died by B, once their lease ran out.
func TestWebhooksSurviveAnInstanceKilled(t *testing.T) {
	secret := webhook.GenerateSecret()
	rcv := whverifier.Start(t, []string{secret}, nil, nil)
	g := startGate(t, rcv.URL)
	g.setDelay(time.Second)
	receiver := g.URL + "/events"
	c := startCluster(t, clusterOptions{extra: webhookBlock(receiver, secret), lease: 3 * time.Second})

	// after_login raised by a real login on each instance.
	jar, _ := cookiejar.New(nil)
	cl, _ := idp.Client(testidp.OIDCProviderPostClientID)
	plainLogin(t, c, c.client(jar, c.A), cl)
	plainLogin(t, c, c.client(jar, c.B), cl)
	// And test events, 20 on each instance.
	var accepted []string
	for range 20 {
		for _, p := range []*caddyProc{c.A, c.B} {
			accepted = append(accepted, sendTest(t, p, receiver))
		}
	}
	// Kill A while both instances have deliveries held (each sends at
	// most 2 at a time).
	for deadline := time.Now().Add(20 * time.Second); g.held() < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries did not pile up at the gate (%d held)", g.held())
		}
	}
	// Healthy so far: no message handed out twice.
	for id, n := range deliveriesByID(rcv.Log(t)) {
		if n > 1 {
			t.Errorf("before the kill, message %s was delivered %d times", id, n)
		}
	}
	c.A.kill()
	g.setDelay(0)

	var log []whverifier.Delivered
	var missing []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		log = rcv.Log(t)
		missing = missingIDs(log, accepted)
		if len(missing) == 0 && countType(log, "after_login") >= 2 || time.Now().After(deadline) {
			break
		}
	}
	cut := g.dropped()
	twice := 0
	for _, n := range deliveriesByID(log) {
		if n > 1 {
			twice++
		}
	}
	t.Logf("accepted %d test events; %d deliveries cut by A's death; the verifier has %d deliveries (%d after_login, %d messages twice)",
		len(accepted), len(cut), len(log), countType(log, "after_login"), twice)
	if len(missing) > 0 {
		t.Fatalf("%d of %d accepted events never delivered: %v", len(missing), len(accepted), missing)
	}
	if n := countType(log, "after_login"); n < 2 {
		t.Errorf("%d after_login deliveries, want one per login", n)
	}
	if len(cut) == 0 {
		t.Fatal("no delivery was in flight from A when it was killed: the test did not test B claiming A's leases")
	}
	if m := missingIDs(log, cut); len(m) > 0 {
		t.Errorf("deliveries A held when it died were never made by B: %v", m)
	}
	for _, d := range log {
		if len(d.Verified) != 1 {
			t.Errorf("delivery %s: verified %v", d.ID, d.Verified)
		}
	}
}

// sendTest raises an idphooks.test event for receiver on p (the admin
// endpoint's send-test) and returns its id, the webhook-id it is
// delivered with.
func sendTest(t *testing.T, p *caddyProc, receiver string) string {
	t.Helper()
	id, status, err := trySendTest(p, receiver)
	if err != nil || status != http.StatusAccepted {
		t.Fatalf("send-test on %s: %d %v", p.name, status, err)
	}
	return id
}

// trySendTest is sendTest for loads, where a refusal is an answer.
func trySendTest(p *caddyProc, receiver string) (id string, status int, err error) {
	resp, err := http.Post("http://"+p.admin+"/idp-hooks/send-test", "application/json",
		strings.NewReader(`{"receiver":"`+receiver+`"}`))
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var m map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m["id"], resp.StatusCode, nil
}

// missingIDs are the ids in want that no delivery in log carries.
func missingIDs(log []whverifier.Delivered, want []string) []string {
	seen := map[string]bool{}
	for _, d := range log {
		seen[d.ID] = true
	}
	var out []string
	for _, id := range want {
		if !seen[id] {
			out = append(out, id)
		}
	}
	return out
}

// deliveriesByID counts the deliveries of each webhook-id.
func deliveriesByID(log []whverifier.Delivered) map[string]int {
	n := map[string]int{}
	for _, d := range log {
		n[d.ID]++
	}
	return n
}

func countType(log []whverifier.Delivered, typ string) int {
	n := 0
	for _, d := range log {
		if d.Payload["type"] == typ {
			n++
		}
	}
	return n
}
