package keys

import (
	"slices"
	"time"
)

// plan returns the set as it should be at now: expired keys dropped, a
// first key when there is none, and a successor when the newest key is due
// to be replaced. changed reports whether the result must be stored.
func (c Config) plan(current []privateKey, now time.Time) (next []privateKey, changed bool, err error) {
	next, changed, err = c.planKeys(current, now)
	if err != nil || !c.Certificates {
		return next, changed, err
	}
	added, err := withCertificates(next, c.Encryption)
	if err != nil {
		return nil, false, err
	}
	return next, changed || added, nil
}

func (c Config) planKeys(current []privateKey, now time.Time) (next []privateKey, changed bool, err error) {
	for _, k := range current {
		if !k.timing.PublishUntil.IsZero() && !now.Before(k.timing.PublishUntil) {
			changed = true
			continue
		}
		next = append(next, k)
	}

	if len(next) == 0 {
		// Nobody can have cached a JWKS that never existed, so the first
		// key needs no pre-publication.
		k, err := newPrivateKey(c.Algorithm, c.RSABits, timing{CreatedAt: now, SignFrom: now})
		if err != nil {
			return nil, false, err
		}
		return []privateKey{k}, true, nil
	}

	if !c.successorDue(next, now) {
		return next, changed, nil
	}
	signFrom := now.Add(c.PrePublish)
	successor, err := newPrivateKey(c.Algorithm, c.RSABits, timing{CreatedAt: now, SignFrom: signFrom})
	if err != nil {
		return nil, false, err
	}
	for i := range next {
		// Every key that would still sign after the successor starts stops
		// then, including a pending one of an algorithm no longer wanted.
		t := &next[i].timing
		if t.SignUntil.IsZero() || t.SignUntil.After(signFrom) {
			t.SignUntil = signFrom
			t.PublishUntil = signFrom.Add(c.Retention)
		}
	}
	return append(next, successor), true, nil
}

// successorDue reports whether the newest key must get a successor: its
// period ends within PrePublish, or it is of an algorithm no longer wanted.
func (c Config) successorDue(keys []privateKey, now time.Time) bool {
	newest := slices.MaxFunc(keys, func(a, b privateKey) int { return a.timing.SignFrom.Compare(b.timing.SignFrom) })
	if newest.alg != c.Algorithm {
		return true
	}
	return !now.Before(newest.timing.SignFrom.Add(c.RotationPeriod - c.PrePublish))
}
