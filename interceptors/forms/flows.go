package forms

import (
	"crypto/sha256"
	"sync"
	"time"
)

// flows remembers who the IdP let in under each flow key (Sessions): the
// account steps that follow a login (a new password, a new one-time
// code device, a deleted account) post nothing that says who the
// customer is, and their events must say it. Only an answer of the IdP
// that accepted a login or a registration fills it.
//
// The name a login post carries is not always the one the IdP used: a
// step that already knows its user (Keycloak's password step after its
// username step, a re-authentication, the one-time code step) takes the
// password and ignores a username posted beside it. So a key keeps the
// first name it was given: a second, other name makes it name nobody
// (until it expires), never the second, lest a customer's own password
// change be told as another customer's.
//
// It lives in the process: a login seen by another node, or before a
// restart, leaves its later account events without a user.
type flows struct {
	mu sync.Mutex
	// Two generations: when cur is full it becomes old, and old is
	// dropped, so that a burst of logins forgets the oldest flows first.
	cur, old map[[32]byte]flowUser
}

type flowUser struct {
	identifier string
	// unsure: two names were given; the key names nobody.
	unsure bool
	at     time.Time
}

const (
	// flowFor is how long a flow's user is remembered since its last
	// use: a Keycloak SSO session's default lifetime is 10 hours.
	flowFor = 10 * time.Hour
	// flowKeep bounds one generation.
	flowKeep = 100_000
	// flowName bounds a name kept: Keycloak's usernames and emails have
	// at most 255 characters. A longer one is one the IdP ignored (a
	// login post whose user it already knew): kept as two names are,
	// naming nobody, in a few bytes.
	flowName = 1024
)

// flowID keeps the keys (session cookies) out of memory as they are.
func flowID(key string) [32]byte { return sha256.Sum256([]byte(key)) }

func (f *flows) remember(key, identifier string) {
	if key == "" || identifier == "" {
		return
	}
	f.set(key, func(u *flowUser, ok bool) {
		if len(identifier) > flowName {
			u.unsure = true
			return
		}
		if ok && u.identifier != identifier {
			u.unsure = true
		}
		if !ok {
			u.identifier = identifier
		}
	})
}

// doubt makes key name nobody: a post whose name the IdP may have
// ignored was accepted under it.
func (f *flows) doubt(key string) {
	if key == "" {
		return
	}
	f.set(key, func(u *flowUser, _ bool) { u.unsure = true })
}

// set applies change to key's entry (ok: it exists and has not expired)
// and stores it, used now.
func (f *flows) set(key string, change func(u *flowUser, ok bool)) {
	id := flowID(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.get(id)
	change(&u, ok)
	if f.cur == nil {
		f.cur = make(map[[32]byte]flowUser)
	}
	if _, in := f.cur[id]; !in && len(f.cur) >= flowKeep {
		f.old, f.cur = f.cur, make(map[[32]byte]flowUser)
	}
	u.at = time.Now()
	f.cur[id] = u
}

// get is id's entry unless it expired; f.mu is held.
func (f *flows) get(id [32]byte) (flowUser, bool) {
	u, ok := f.cur[id]
	if !ok {
		if u, ok = f.old[id]; !ok {
			return flowUser{}, false
		}
	}
	if time.Since(u.at) > flowFor {
		delete(f.cur, id)
		delete(f.old, id)
		return flowUser{}, false
	}
	return u, true
}

// has reports whether key was given a name (or two).
func (f *flows) has(key string) bool {
	if key == "" {
		return false
	}
	id := flowID(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.get(id)
	return ok
}

// who is the identifier remembered for key, "" for none.
func (f *flows) who(key string) string {
	if key == "" {
		return ""
	}
	id := flowID(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.get(id)
	if !ok || u.unsure {
		return ""
	}
	// In use: kept as long as the IdP's session is.
	u.at = time.Now()
	if _, in := f.cur[id]; !in && len(f.cur) >= flowKeep {
		f.old, f.cur = f.cur, make(map[[32]byte]flowUser)
	}
	if f.cur == nil {
		f.cur = make(map[[32]byte]flowUser)
	}
	f.cur[id] = u
	return u.identifier
}
