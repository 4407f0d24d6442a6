package webhook

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idphooks/idphooks/delivery"
	"github.com/idphooks/idphooks/delivery/outbound"
	"github.com/idphooks/idphooks/egress"
	"github.com/idphooks/idphooks/events"
)

// message is a queued after_login for the tests.
func message(t *testing.T, id string) delivery.Message {
	t.Helper()
	ev := events.New(events.AfterLogin, "web-app", events.Request{ID: "req-1", IP: "203.0.113.9", Method: "POST", Host: "auth.example", Path: "/login"})
	ev.User = map[string]any{"sub": "u-1", "email": "ada@example.com"}
	body, err := Envelope(ev)
	if err != nil {
		t.Fatal(err)
	}
	return delivery.Message{ID: id, Receiver: "crm", Event: ev.Type, Time: ev.Time, Payload: body}
}

// Deliveries verify with the npm standardwebhooks library, with each
// secret of a rotation on its own, and v1a with node's Ed25519.
func TestSenderVerifiedByStandardWebhooks(t *testing.T) {
	oldSecret, newSecret := GenerateSecret(), GenerateSecret()
	sk, pk := GenerateSigningKey()
	tests := []struct {
		name         string
		secrets      []string
		keys         []string
		verifySecret []string
		verifyKeys   []string
		want         string
	}{
		{"one secret", []string{oldSecret}, nil, []string{oldSecret}, nil, "secret1"},
		{"rotation: both sign, each verifies alone", []string{newSecret, oldSecret}, nil, []string{oldSecret, newSecret}, nil, "secret1,secret2"},
		{"v1a beside v1", []string{oldSecret}, []string{sk}, []string{oldSecret}, []string{pk}, "secret1,key1"},
		{"v1a only", nil, []string{sk}, nil, []string{pk}, "key1"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := startVerifier(t, tt.verifySecret, tt.verifyKeys, nil)
			s, err := NewSender(Config{URL: rcv.URL + "/events", AllowHosts: []string{"127.0.0.1"}, Secrets: tt.secrets, SigningKeys: tt.keys})
			if err != nil {
				t.Fatal(err)
			}
			m := message(t, "msg_test"+string(rune('a'+i)))
			res := s.Send(context.Background(), m)
			if res.Err != nil || res.Status != 204 {
				t.Fatalf("Send = %+v", res)
			}
			log := rcv.log(t)
			if len(log) != 1 {
				t.Fatalf("receiver log: %+v", log)
			}
			got := log[0]
			if got.ID != m.ID || strings.Join(got.Verified, ",") != tt.want || got.Path != "/events" {
				t.Fatalf("receiver saw %+v", got)
			}
			if got.Payload["type"] != events.AfterLogin || got.Payload["timestamp"] == nil {
				t.Fatalf("payload %v", got.Payload)
			}
			data, _ := got.Payload["data"].(map[string]any)
			if user, _ := data["user"].(map[string]any); user["sub"] != "u-1" || data["application"] != "web-app" {
				t.Fatalf("data %v", data)
			}
		})
	}
}

// A receiver that knows none of the secrets refuses: the verifier is not
// a yes-man.
func TestSenderWrongSecretRefused(t *testing.T) {
	rcv := startVerifier(t, []string{GenerateSecret()}, nil, nil)
	s, err := NewSender(Config{URL: rcv.URL, AllowHosts: []string{"127.0.0.1"}, Secrets: []string{GenerateSecret()}})
	if err != nil {
		t.Fatal(err)
	}
	res := s.Send(context.Background(), message(t, "msg_1"))
	if res.Status != 401 || res.Err == nil || !strings.Contains(res.Err.Error(), "No matching signature") {
		t.Fatalf("Send = %+v", res)
	}
}

// fixedResolver stands in for DNS.
type fixedResolver map[string]string

func (f fixedResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, errors.New("no such host " + host)
}

// The egress rules hold at dial time: a public-looking name resolving to
// loopback or to the metadata address is never connected to.
func TestSenderEgressRefused(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	res := fixedResolver{"crm.test": "127.0.0.1", "meta.test": "169.254.169.254"}
	tests := []struct {
		name  string
		url   string
		allow []string
		want  string
	}{
		{"name resolving to loopback", "https://crm.test:" + port + "/", nil, "not a public address"},
		{"loopback literal", "https://127.0.0.1:" + port + "/", nil, "not a public address"},
		{"listed name resolving to metadata", "https://meta.test:" + port + "/", []string{"meta.test"}, "cloud metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSender(Config{URL: tt.url, AllowHosts: tt.allow, Secrets: []string{GenerateSecret()}, Resolver: res})
			if err != nil {
				t.Fatal(err)
			}
			r := s.Send(context.Background(), message(t, "msg_1"))
			if !errors.Is(r.Err, egress.ErrRefused) || !strings.Contains(r.Err.Error(), tt.want) || r.Status != 0 {
				t.Fatalf("Send = %+v, want refused: %s", r, tt.want)
			}
		})
	}
	if hits.Load() != 0 {
		t.Fatalf("the receiver was reached %d times", hits.Load())
	}
}

// Config errors: each says what is wrong.
func TestNewSenderConfigErrors(t *testing.T) {
	sec := []string{GenerateSecret()}
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"plain http, host not listed", Config{URL: "http://crm.example/x", Secrets: sec}, "plain http:// is accepted only for hosts listed in allow_hosts"},
		{"plain http to loopback not listed", Config{URL: "http://127.0.0.1:9/x", Secrets: sec}, "plain http://"},
		{"host outside allow_hosts", Config{URL: "https://crm.example/x", AllowHosts: []string{"other.example"}, Secrets: sec}, "not in allow_hosts"},
		{"ftp", Config{URL: "ftp://crm.example/", Secrets: sec}, "must be https://"},
		{"no host", Config{URL: "https:///x", Secrets: sec}, "no host"},
		{"fragment", Config{URL: "https://crm.example/#x", Secrets: sec}, "fragment"},
		{"user information", Config{URL: "https://user:hunter2@crm.example/x", Secrets: sec}, "holds user information"},
		{"no secret", Config{URL: "https://crm.example/"}, "needs a secret"},
		{"bad secret", Config{URL: "https://crm.example/", Secrets: []string{"hunter2"}}, `must start with "whsec_"`},
		{"second secret bad", Config{URL: "https://crm.example/", Secrets: []string{GenerateSecret(), "whsec_AAAA"}}, "secret 2 of 2: webhook secret too short: 3 bytes"},
		{"bad CIDR", Config{URL: "https://crm.example/", AllowHosts: []string{"10.0.0.0/33"}, Secrets: sec}, `allow_hosts: "10.0.0.0/33" is not a CIDR`},
		{"empty allow_hosts entry", Config{URL: "https://crm.example/", AllowHosts: []string{" "}, Secrets: sec}, "empty entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSender(tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the secret shows in %v", err)
			}
		})
	}
	// Listed: plain http is accepted, by name or by CIDR.
	for _, c := range []Config{
		{URL: "http://crm.internal/x", AllowHosts: []string{"crm.internal"}, Secrets: sec},
		{URL: "http://crm.internal/x", AllowHosts: []string{"*.internal"}, Secrets: sec},
		{URL: "http://10.1.2.3/x", AllowHosts: []string{"10.1.0.0/16"}, Secrets: sec},
	} {
		if _, err := NewSender(c); err != nil {
			t.Fatalf("%s with %v: %v", c.URL, c.AllowHosts, err)
		}
	}
}

// What a receiver answers decides the result: 2xx delivered, 410 gone,
// 3xx not followed, others failed with their status, Retry-After read,
// a hang ends at the attempt's timeout, a huge answer is read capped.
func TestSenderAnswers(t *testing.T) {
	var followed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	mux.HandleFunc("/created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/followed", http.StatusFound)
	})
	mux.HandleFunc("/followed", func(w http.ResponseWriter, r *http.Request) { followed.Store(true) })
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(410) })
	mux.HandleFunc("/bad", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "missing field\nuser", http.StatusBadRequest)
	})
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(503)
	})
	mux.HandleFunc("/limited", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
		w.WriteHeader(429)
	})
	mux.HandleFunc("/forever", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "99999999")
		w.WriteHeader(503)
	})
	mux.HandleFunc("/huge-error", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
	})
	mux.HandleFunc("/huge-ok", func(w http.ResponseWriter, r *http.Request) {
		for range 160 { // 10 MiB
			if _, err := w.Write(make([]byte, 64<<10)); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		// The server notices the client left only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		path       string
		status     int
		err        string // "" means delivered
		gone       bool
		retryAfter time.Duration // lower bound
	}{
		{"/ok", 200, "", false, 0},
		{"/created", 201, "", false, 0},
		{"/redirect", 302, "redirect to \"/followed\" not followed", false, 0},
		{"/gone", 410, "410", true, 0},
		{"/bad", 400, `answered 400 Bad Request: "missing field\nuser"`, false, 0},
		{"/busy", 503, "503", false, 120 * time.Second},
		{"/limited", 429, "429", false, 50 * time.Minute},
		{"/forever", 503, "503", false, outbound.MaxRetryAfter},
		{"/huge-error", 500, "…", false, 0},
		{"/huge-ok", 200, "", false, 0},
		{"/hang", 0, "no answer before the deadline", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			s, err := NewSender(Config{URL: srv.URL + tt.path, AllowHosts: []string{"127.0.0.1"},
				Secrets: []string{GenerateSecret()}, Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			res := s.Send(context.Background(), message(t, "msg_1"))
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d (%v)", res.Status, tt.status, res.Err)
			}
			switch {
			case tt.err == "" && res.Err != nil:
				t.Fatalf("not delivered: %v", res.Err)
			case tt.err != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tt.err)):
				t.Fatalf("err = %v, want %q", res.Err, tt.err)
			}
			if errors.Is(res.Err, delivery.ErrGone) != tt.gone {
				t.Fatalf("gone = %v, want %v", errors.Is(res.Err, delivery.ErrGone), tt.gone)
			}
			if res.RetryAfter < tt.retryAfter || res.RetryAfter > outbound.MaxRetryAfter || tt.retryAfter == 0 && res.RetryAfter != 0 {
				t.Fatalf("RetryAfter %v, want at least %v", res.RetryAfter, tt.retryAfter)
			}
			if res.Err != nil && len(res.Err.Error()) > 400 {
				t.Fatalf("error text of %d bytes", len(res.Err.Error()))
			}
		})
	}
	if followed.Load() {
		t.Fatal("a redirect was followed")
	}
}

// TLS is verified: against the roots given, and refused without them.
func TestSenderTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderSignature) == "" {
			w.WriteHeader(400)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c := Config{URL: srv.URL + "/hook", AllowHosts: []string{"127.0.0.1"}, Secrets: []string{GenerateSecret()}, RootCAs: pool}
	s, err := NewSender(c)
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Send(context.Background(), message(t, "msg_1")); res.Err != nil || res.Status != 200 {
		t.Fatalf("with the CA: %+v", res)
	}
	c.RootCAs = nil
	s, err = NewSender(c)
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Send(context.Background(), message(t, "msg_1")); res.Err == nil || !strings.Contains(res.Err.Error(), "certificate") {
		t.Fatalf("without the CA: %+v", res)
	}
}

// The runtime guard: a message of an event that carries a password, or
// with an id the signature cannot carry, is never sent.
func TestSenderRefusesSecretEventsAndBadIDs(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	s, err := NewSender(Config{URL: srv.URL, AllowHosts: []string{"127.0.0.1"}, Secrets: []string{GenerateSecret()}})
	if err != nil {
		t.Fatal(err)
	}
	m := message(t, "msg_1")
	m.Event = events.BeforePasswordValidation
	if res := s.Send(context.Background(), m); !errors.Is(res.Err, ErrSecretEvent) {
		t.Fatalf("secret event: %+v", res)
	}
	for _, id := range []string{"", "msg.1", "msg 1", "msg\n1"} {
		m := message(t, id)
		if res := s.Send(context.Background(), m); res.Err == nil || !strings.Contains(res.Err.Error(), "webhook-id") {
			t.Fatalf("id %q: %+v", id, res)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("sent %d times", hits.Load())
	}
}
