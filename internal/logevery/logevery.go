// Package logevery decides when a condition that goes on (a part passed
// sealed, cache entries that do not open) is logged again: at most once
// a minute per key, over a bounded set of keys, since keys may come from
// requests.
package logevery

import (
	"sync"
	"time"
)

// Every is how long a key stays quiet after it was logged.
const Every = time.Minute

// maxKeys bounds the keys remembered; when full, it starts afresh (a key
// may then be logged once more, never hidden for good).
const maxKeys = 64

// Limiter remembers when each key was last logged. The zero value is
// ready; safe for concurrent use.
type Limiter struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// Due reports whether key has not been logged for Every, and notes that
// it is logged now.
func (l *Limiter) Due(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < Every {
		return false
	}
	if l.last == nil || len(l.last) >= maxKeys {
		l.last = map[string]time.Time{}
	}
	l.last[key] = now
	return true
}
