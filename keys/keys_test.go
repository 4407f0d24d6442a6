package keys

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idphooks/idphooks/internal/fakeclock"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

var allAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// countingStorage counts writes, to see who generated keys.
type countingStorage struct {
	Storage
	stores atomic.Int32
}

func (s *countingStorage) Store(ctx context.Context, key string, value []byte) error {
	s.stores.Add(1)
	return s.Storage.Store(ctx, key, value)
}

func mustNew(t testing.TB, st Storage, cfg Config) *Manager {
	t.Helper()
	m, err := New(context.Background(), st, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// verifyWithJWKS checks token the way a relying party would: only through
// the published JWKS and golang-jwt.
func verifyWithJWKS(t *testing.T, jwks []byte, token string, alg string) jwt.MapClaims {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("JWKS does not parse: %v", err)
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		found := set.Key(kid)
		if len(found) != 1 {
			return nil, errors.New("kid not in JWKS")
		}
		return found[0].Key, nil
	}, jwt.WithValidMethods([]string{alg}), jwt.WithTimeFunc(func() time.Time { return time.Unix(1700000000, 0) }))
	if err != nil {
		t.Fatalf("token does not verify against the JWKS: %v", err)
	}
	return claims
}

func TestGenerateAndVerifyPerAlgorithm(t *testing.T) {
	for _, alg := range allAlgorithms {
		t.Run(alg, func(t *testing.T) {
			m := mustNew(t, NewMemoryStorage(), Config{Algorithm: alg})
			s := m.Signer()
			if s.Algorithm != alg || s.Method.Alg() != alg {
				t.Fatalf("signer alg %s / %s, want %s", s.Algorithm, s.Method.Alg(), alg)
			}
			if want, _ := thumbprint(s.Key.Public()); s.KeyID != want {
				t.Errorf("kid %q is not the RFC 7638 thumbprint %q", s.KeyID, want)
			}

			tok, err := m.Sign(map[string]any{"sub": "alice", "tier": "gold"}, map[string]any{"typ": "at+jwt"})
			if err != nil {
				t.Fatal(err)
			}
			claims := verifyWithJWKS(t, m.PublicJWKS(), tok, alg)
			if claims["tier"] != "gold" {
				t.Errorf("claims = %v", claims)
			}
			parsed, _, _ := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
			if parsed.Header["kid"] != s.KeyID || parsed.Header["typ"] != "at+jwt" {
				t.Errorf("header = %v", parsed.Header)
			}

			// Our own verification path accepts it too.
			if _, err := jwt.Parse(tok, m.Keyfunc, jwt.WithValidMethods([]string{alg})); err != nil {
				t.Errorf("Keyfunc: %v", err)
			}
		})
	}
}

func TestPublicJWKSHasNoPrivateMembers(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		m := mustNew(t, NewMemoryStorage(), Config{Algorithm: alg})
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(m.PublicJWKS(), &set); err != nil {
			t.Fatal(err)
		}
		if len(set.Keys) != 1 {
			t.Fatalf("%s: %d keys published", alg, len(set.Keys))
		}
		k := set.Keys[0]
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", timingMember} {
			if _, ok := k[private]; ok {
				t.Errorf("%s: published JWK has member %q", alg, private)
			}
		}
		if k["use"] != "sig" || k["alg"] != alg || k["kid"] != m.Signer().KeyID {
			t.Errorf("%s: published JWK = %v", alg, k)
		}
	}
}

func TestPersistenceRoundTrip(t *testing.T) {
	st := NewMemoryStorage()
	first := mustNew(t, st, Config{Algorithm: "ES256", StorageKey: "site-a"})

	raw, err := st.Load(context.Background(), "site-a/jwks.json")
	if err != nil {
		t.Fatalf("set not stored under the configured prefix: %v", err)
	}
	// The stored form is a plain JWK Set with private members, readable by
	// any JOSE library.
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) != 1 || set.Keys[0].IsPublic() {
		t.Fatalf("stored set is not a private JWK Set: %v %s", err, raw)
	}
	if !strings.Contains(string(raw), `"`+timingMember+`"`) {
		t.Errorf("stored set lacks %s: %s", timingMember, raw)
	}

	second := mustNew(t, st, Config{Algorithm: "ES256", StorageKey: "site-a"})
	if first.Signer().KeyID != second.Signer().KeyID {
		t.Fatal("reopening generated a new key instead of loading the stored one")
	}
	tok, err := first.Sign(map[string]any{"sub": "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	verifyWithJWKS(t, second.PublicJWKS(), tok, "ES256")

	other := mustNew(t, st, Config{Algorithm: "ES256", StorageKey: "site-b"})
	if other.Signer().KeyID == first.Signer().KeyID {
		t.Error("a different storage prefix shares keys")
	}
}

func TestManagersSharingStorageGenerateOnce(t *testing.T) {
	st := &countingStorage{Storage: NewMemoryStorage()}
	const nodes = 8
	kids := make([]string, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := New(context.Background(), st, Config{Algorithm: "ES256"}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			kids[i] = m.Signer().KeyID
		}()
	}
	wg.Wait()
	for _, kid := range kids {
		if kid != kids[0] {
			t.Fatalf("nodes disagree on the key: %v", kids)
		}
	}
	if n := st.stores.Load(); n != 1 {
		t.Errorf("key set stored %d times, want 1", n)
	}
}

func TestRotationPrePublishesAndRetains(t *testing.T) {
	clock := fakeclock.New()
	cfg := Config{Algorithm: "ES256", Now: clock.Now}
	st := &countingStorage{Storage: NewMemoryStorage()}
	ctx := context.Background()
	a := mustNew(t, st, cfg)
	b := mustNew(t, st, cfg) // a second cluster node
	first := a.Signer().KeyID

	clock.Add(DefaultRotationPeriod - DefaultPrePublish - time.Minute)
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if len(a.PublicKeys()) != 1 || st.stores.Load() != 1 {
		t.Fatal("rotated before the successor was due")
	}

	// Due: a successor is published but does not sign yet.
	clock.Add(time.Minute)
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(a.PublicKeys()); n != 2 {
		t.Fatalf("%d keys published after rotation, want 2", n)
	}
	if a.Signer().KeyID != first {
		t.Fatal("successor signs before its pre-publication ended")
	}
	var second string
	for _, k := range a.PublicKeys() {
		if k.KeyID != first {
			second = k.KeyID
		}
	}

	// The other node picks the successor up instead of making its own.
	clock.Add(DefaultRefreshInterval)
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := b.Lookup(second); !ok || st.stores.Load() != 2 {
		t.Fatalf("second node did not load the successor (stores=%d)", st.stores.Load())
	}

	// A token signed just before the switch...
	clock.Add(DefaultPrePublish - DefaultRefreshInterval - time.Second)
	old, err := b.Sign(map[string]any{"sub": "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Second)
	if a.Signer().KeyID != second || b.Signer().KeyID != second {
		t.Fatal("successor does not sign once its period started")
	}

	// ...stays verifiable for the retention period, then its key goes.
	clock.Add(DefaultRetention - time.Second)
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	verifyWithJWKS(t, a.PublicJWKS(), old, "ES256")
	if _, err := jwt.Parse(old, a.Keyfunc, jwt.WithValidMethods([]string{"ES256"})); err != nil {
		t.Fatalf("retired key no longer verifies: %v", err)
	}
	clock.Add(time.Second)
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := a.Lookup(first); ok || len(a.PublicKeys()) != 1 {
		t.Fatal("retired key still published after retention")
	}
	if strings.Contains(string(a.PublicJWKS()), first) {
		t.Fatal("retired key still in the JWKS after retention")
	}
}

func TestAlgorithmChangeRotatesWithPrePublication(t *testing.T) {
	clock := fakeclock.New()
	st := NewMemoryStorage()
	mustNew(t, st, Config{Algorithm: "RS256", Now: clock.Now})
	clock.Add(time.Hour)

	m := mustNew(t, st, Config{Algorithm: "EdDSA", Now: clock.Now})
	if got := m.Signer().Algorithm; got != "RS256" {
		t.Fatalf("new algorithm signs at once (%s); relying parties have not seen its key", got)
	}
	if n := len(m.PublicKeys()); n != 2 {
		t.Fatalf("%d keys published, want the old and the pre-published new", n)
	}
	clock.Add(DefaultPrePublish)
	if got := m.Signer().Algorithm; got != "EdDSA" {
		t.Fatalf("after pre-publication signer is %s", got)
	}
}

func TestCorruptStoredSetIsNotOverwritten(t *testing.T) {
	st := NewMemoryStorage()
	ctx := context.Background()
	bad := []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"pub","alg":"ES256"}]}`)
	if err := st.Store(ctx, DefaultStorageKey+"/jwks.json", bad); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, st, Config{}, nil); err == nil {
		t.Fatal("a set without private keys was accepted")
	}
	got, _ := st.Load(ctx, DefaultStorageKey+"/jwks.json")
	if string(got) != string(bad) {
		t.Fatal("an unreadable stored set was overwritten")
	}
}

func TestSignRefusesKeyHeaders(t *testing.T) {
	m := mustNew(t, NewMemoryStorage(), Config{Algorithm: "EdDSA"})
	for _, h := range []string{"alg", "kid"} {
		if _, err := m.Sign(map[string]any{}, map[string]any{h: "x"}); err == nil {
			t.Errorf("header %q accepted", h)
		}
	}
}

func TestKeyfuncRejectsForeignTokens(t *testing.T) {
	m := mustNew(t, NewMemoryStorage(), Config{Algorithm: "RS256"})
	other := mustNew(t, NewMemoryStorage(), Config{Algorithm: "RS256"})
	tok, _ := other.Sign(map[string]any{"sub": "x"}, nil)
	if _, err := jwt.Parse(tok, m.Keyfunc); err == nil {
		t.Error("token of another key set accepted")
	}

	// Same kid, other alg of the same key type: PS256 must not pass for RS256.
	s := m.Signer()
	s.Method = jwt.SigningMethodPS256
	forged, err := s.Sign(map[string]any{"sub": "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(forged, m.Keyfunc); err == nil {
		t.Error("token with an algorithm other than the key's accepted")
	}
}

func TestConfigValidation(t *testing.T) {
	for name, cfg := range map[string]Config{
		"algorithm":      {Algorithm: "HS256"},
		"rsa bits":       {RSABits: 1024},
		"prepublish":     {RotationPeriod: time.Hour, PrePublish: 2 * time.Hour},
		"refresh":        {PrePublish: time.Hour, RefreshInterval: time.Hour},
		"negative":       {Retention: -time.Second},
		"none algorithm": {Algorithm: "none"},
	} {
		if _, err := New(context.Background(), NewMemoryStorage(), cfg, nil); err == nil {
			t.Errorf("%s: bad config accepted", name)
		}
	}
}

func TestRunStopsWithContext(t *testing.T) {
	m := mustNew(t, NewMemoryStorage(), Config{Algorithm: "ES256", RefreshInterval: time.Millisecond, PrePublish: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	time.Sleep(5 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestMemoryStorageLockHonoursContext(t *testing.T) {
	st := NewMemoryStorage()
	ctx := context.Background()
	if err := st.Lock(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := st.Lock(short, "n"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock = %v, want deadline exceeded", err)
	}
	if err := st.Unlock(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	if err := st.Lock(ctx, "n"); err != nil {
		t.Fatal(err)
	}
}
