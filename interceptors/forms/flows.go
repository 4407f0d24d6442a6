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
// that accepted a login or a registration fills it, so a post can never
// name someone else for its own flow.
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
	at         time.Time
}

const (
	// flowFor is how long a flow's user is remembered since its last
	// use: a Keycloak SSO session's default lifetime is 10 hours.
	flowFor = 10 * time.Hour
	// flowKeep bounds one generation.
	flowKeep = 100_000
)

// flowID keeps the keys (session cookies) out of memory as they are.
func flowID(key string) [32]byte { return sha256.Sum256([]byte(key)) }

func (f *flows) remember(key, identifier string) {
	if key == "" || identifier == "" {
		return
	}
	id := flowID(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil {
		f.cur = make(map[[32]byte]flowUser)
	}
	if len(f.cur) >= flowKeep {
		f.old, f.cur = f.cur, make(map[[32]byte]flowUser)
	}
	f.cur[id] = flowUser{identifier: identifier, at: time.Now()}
}

// who is the identifier remembered for key, "" for none.
func (f *flows) who(key string) string {
	if key == "" {
		return ""
	}
	id := flowID(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.cur[id]
	if !ok {
		if u, ok = f.old[id]; !ok {
			return ""
		}
	}
	if time.Since(u.at) > flowFor {
		delete(f.cur, id)
		delete(f.old, id)
		return ""
	}
	// In use: kept as long as the IdP's session is.
	u.at = time.Now()
	if f.cur == nil {
		f.cur = make(map[[32]byte]flowUser)
	}
	f.cur[id] = u
	return u.identifier
}
