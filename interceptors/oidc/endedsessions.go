package oidc

import (
	"crypto/sha256"
	"sync"
	"time"
)

// maxEndedSessions bounds the logouts an instance remembers (some 100
// bytes each).
const maxEndedSessions = 1 << 16

// endedSessions remembers the logouts that raised after_logout, so that
// each raises it once: IdPs answer a replayed end-session request as
// they answered the first (Keycloak and the zitadel OP redirect back
// again, the session long gone), and the hint is a token that leaks in
// URLs. Without it, whoever holds an old ID token, someone else's or
// their own, has idphooks push a new session-revoked (a new jti, which
// receivers cannot drop as a duplicate) and queue a message per receiver
// at each GET. A logout is its client's session: the ID token's issuer,
// client and sid, or the token itself when it names no session. Entries
// last until the hint could not raise the event anyway (its exp and
// IDTokenGrace); past the bound, the expired go first, then any.
type endedSessions struct {
	mu    sync.Mutex
	until map[[sha256.Size]byte]time.Time
	max   int
}

func newEndedSessions(max int) *endedSessions {
	return &endedSessions{until: map[[sha256.Size]byte]time.Time{}, max: max}
}

// logoutKey names the session tok's logout ends.
func logoutKey(tok *verified, client string) [sha256.Size]byte {
	iss, _ := tok.Claims["iss"].(string)
	if sid, _ := tok.Claims["sid"].(string); sid != "" {
		return sha256.Sum256([]byte("sid\x00" + iss + "\x00" + client + "\x00" + sid))
	}
	return sha256.Sum256([]byte("token\x00" + tok.Raw))
}

// seen reports whether key's logout raised the event already.
func (e *endedSessions) seen(key [sha256.Size]byte, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	until, ok := e.until[key]
	return ok && now.Before(until)
}

// claim remembers key's logout until until and reports true, unless
// its logout raised the event already or is being raised: seen and add
// in one step, so that the same logout sent many times at once is
// raised by one of them. A claim whose logout raised nothing after all
// is given up with release.
func (e *endedSessions) claim(key [sha256.Size]byte, until, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if u, ok := e.until[key]; ok && now.Before(u) {
		return false
	}
	e.putLocked(key, until, now)
	return true
}

// release forgets a claim whose logout raised nothing.
func (e *endedSessions) release(key [sha256.Size]byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.until, key)
}

// add remembers key's logout until until.
func (e *endedSessions) add(key [sha256.Size]byte, until, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.putLocked(key, until, now)
}

func (e *endedSessions) putLocked(key [sha256.Size]byte, until, now time.Time) {
	if _, ok := e.until[key]; !ok && len(e.until) >= e.max {
		for k, u := range e.until {
			if !now.Before(u) {
				delete(e.until, k)
			}
		}
		for k := range e.until {
			if len(e.until) < e.max {
				break
			}
			delete(e.until, k)
		}
	}
	e.until[key] = until
}
