package keys

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"
)

// Manager holds the current key set. All its methods are safe for
// concurrent use: readers see an immutable snapshot swapped in atomically.
type Manager struct {
	storage Storage
	cfg     Config
	log     *zap.Logger
	snap    atomic.Pointer[snapshot]
}

// snapshot is one loaded key set, never modified once installed.
type snapshot struct {
	// signers is ordered by sign_from, oldest first.
	signers []signerAt
	public  []PublicKey
	private []crypto.Signer // public's private keys, in the same order
	byKid   map[string]PublicKey
	jwks    []byte
	keyJSON []json.RawMessage // jwks' keys one by one, for merged sets
}

type signerAt struct {
	from time.Time
	Signer
}

// New loads the key set from storage, generating and storing a first key
// (or a due successor) under the storage lock when needed.
func New(ctx context.Context, storage Storage, cfg Config, logger *zap.Logger) (*Manager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = zap.NewNop()
	}
	m := &Manager{storage: storage, cfg: cfg, log: logger}
	if err := m.Refresh(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Refresh reloads the set from storage, so keys another node generated are
// published here, and rotates when due. On error the previous set stays.
func (m *Manager) Refresh(ctx context.Context) error {
	keys, err := m.load(ctx)
	if err != nil {
		return err
	}
	if keys == nil || m.cfg.changeDue(keys, m.cfg.Now()) {
		if keys, err = m.update(ctx); err != nil {
			return err
		}
	}
	snap, err := newSnapshot(keys, m.cfg.Now())
	if err != nil {
		return err
	}
	m.snap.Store(snap)
	return nil
}

// Run calls Refresh every RefreshInterval until ctx is done.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("refreshing signing keys failed; keeping the current ones", zap.Error(err))
			}
		}
	}
}

// load returns the stored set, or nil when there is none yet.
func (m *Manager) load(ctx context.Context) ([]privateKey, error) {
	data, err := m.storage.Load(ctx, m.cfg.setKey())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keys: loading %s: %w", m.cfg.setKey(), err)
	}
	return decodeSet(data)
}

// update changes the stored set under the storage lock. It loads again
// once locked, since another node may have done the work while we waited.
func (m *Manager) update(ctx context.Context) (keys []privateKey, err error) {
	name := m.cfg.lockName()
	if err := m.storage.Lock(ctx, name); err != nil {
		return nil, fmt.Errorf("keys: locking %s: %w", name, err)
	}
	defer func() {
		// Unlock even when ctx is already cancelled: a held lock would stall
		// every other node until the storage deems it stale.
		if uerr := m.storage.Unlock(context.WithoutCancel(ctx), name); uerr != nil && err == nil {
			err = fmt.Errorf("keys: unlocking %s: %w", name, uerr)
		}
	}()

	current, err := m.load(ctx)
	if err != nil {
		return nil, err
	}
	keys, changed, err := m.cfg.plan(current, m.cfg.Now())
	if err != nil || !changed {
		return keys, err
	}
	data, err := encodeSet(keys)
	if err != nil {
		return nil, err
	}
	if err := m.storage.Store(ctx, m.cfg.setKey(), data); err != nil {
		return nil, fmt.Errorf("keys: storing %s: %w", m.cfg.setKey(), err)
	}
	for _, k := range keys {
		if !slices.ContainsFunc(current, func(c privateKey) bool { return c.kid == k.kid }) {
			m.log.Info("generated signing key",
				zap.String("kid", k.kid), zap.String("alg", k.alg), zap.Time("sign_from", k.timing.SignFrom))
		}
	}
	return keys, nil
}

// changeDue reports whether the stored set needs writing: empty, holding an
// expired key, or needing a successor. It is cheap; plan does the work.
func (c Config) changeDue(keys []privateKey, now time.Time) bool {
	if len(keys) == 0 || (c.Certificates && missingCertificate(keys)) {
		return true
	}
	for _, k := range keys {
		if !k.timing.PublishUntil.IsZero() && !now.Before(k.timing.PublishUntil) {
			return true
		}
	}
	return c.successorDue(keys, now)
}

func newSnapshot(keys []privateKey, now time.Time) (*snapshot, error) {
	s := &snapshot{byKid: make(map[string]PublicKey, len(keys))}
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		pub := PublicKey{KeyID: k.kid, Algorithm: k.alg, Key: k.signer.Public(), Certificate: k.cert}
		s.public = append(s.public, pub)
		s.private = append(s.private, k.signer)
		s.byKid[k.kid] = pub
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub.Key, KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
		// A retired key never signs again, even when it is the newest
		// started one (its successor would then be missing, not late).
		if k.timing.SignUntil.IsZero() || now.Before(k.timing.SignUntil) {
			s.signers = append(s.signers, signerAt{from: k.timing.SignFrom, Signer: Signer{
				KeyID: k.kid, Algorithm: k.alg, Method: algorithms[k.alg].method, Key: k.signer, Certificate: k.cert,
			}})
		}
	}
	slices.SortFunc(s.signers, func(a, b signerAt) int { return a.from.Compare(b.from) })
	var err error
	if s.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("keys: encoding JWKS: %w", err)
	}
	for _, k := range set.Keys {
		b, err := k.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("keys: encoding JWK: %w", err)
		}
		s.keyJSON = append(s.keyJSON, b)
	}
	return s, nil
}

// Signer returns the key to sign with now: the newest one whose signing
// period has started. Pre-published keys are not returned before then.
func (m *Manager) Signer() Signer {
	s := m.snap.Load()
	now := m.cfg.Now()
	for i := len(s.signers) - 1; i >= 0; i-- {
		if !now.Before(s.signers[i].from) {
			return s.signers[i].Signer
		}
	}
	if len(s.signers) > 0 {
		// Only reachable when the clock went back; signing with a published
		// key early beats failing.
		return s.signers[0].Signer
	}
	return Signer{}
}

// Sign signs claims with the current key; see Signer.Sign.
func (m *Manager) Sign(claims map[string]any, header map[string]any) (string, error) {
	return m.Signer().Sign(claims, header)
}

// PublicJWKS returns the JWK Set (RFC 7517) of every published key, public
// members only, each with "use":"sig", "alg" and "kid". The caller must not
// modify the returned slice.
func (m *Manager) PublicJWKS() []byte {
	return m.snap.Load().jwks
}

// PublicKeys returns every published key: pre-published, signing and retired.
func (m *Manager) PublicKeys() []PublicKey {
	return slices.Clone(m.snap.Load().public)
}

// PrivateKeys returns the private key of every published key, in the
// order of PublicKeys: pre-published, signing and retired. A set of
// encryption keys (SAML's) decrypts with them, since a peer may encrypt
// to any certificate it was given.
func (m *Manager) PrivateKeys() []crypto.Signer {
	return slices.Clone(m.snap.Load().private)
}

// Lookup returns the published key called kid and its algorithm.
func (m *Manager) Lookup(kid string) (key crypto.PublicKey, alg string, ok bool) {
	pub, ok := m.snap.Load().byKid[kid]
	return pub.Key, pub.Algorithm, ok
}

// Keyfunc is a jwt.Keyfunc accepting only tokens signed by one of our
// published keys with that key's own algorithm.
func (m *Manager) Keyfunc(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	key, alg, ok := m.Lookup(kid)
	if !ok {
		return nil, fmt.Errorf("keys: unknown kid %q", kid)
	}
	if t.Method == nil || t.Method.Alg() != alg {
		return nil, fmt.Errorf("keys: key %q signs %s, not %v", kid, alg, t.Header["alg"])
	}
	return key, nil
}
