package saml

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/beevik/etree"
)

// CheckTimes refuses, with ErrExpired, a Response whose Assertion is not
// valid at now, give or take leeway: its Conditions' NotBefore and
// NotOnOrAfter, and the NotOnOrAfter of its bearer SubjectConfirmationData
// (one bearer confirmation in time is enough, as the Web SSO profile
// reads it). An error Response has no Assertion and so no times. A time
// that is not an xs:dateTime is ErrMalformed.
func (r *Response) CheckTimes(now time.Time, leeway time.Duration) error {
	a := r.assertion
	if a == nil {
		return nil
	}
	if c := child(a, NSAssertion, "Conditions"); c != nil {
		if err := checkNotBefore(c, "Conditions", now, leeway); err != nil {
			return err
		}
		if err := checkNotOnOrAfter(c, "Conditions", now, leeway); err != nil {
			return err
		}
	}
	sub := child(a, NSAssertion, "Subject")
	if sub == nil {
		return nil
	}
	inTime := false
	var late error
	for _, sc := range children(sub, NSAssertion, "SubjectConfirmation") {
		if sc.SelectAttrValue("Method", "") != "urn:oasis:names:tc:SAML:2.0:cm:bearer" {
			continue
		}
		d := child(sc, NSAssertion, "SubjectConfirmationData")
		if d == nil {
			continue
		}
		// A passed time may be made up for by another confirmation; a
		// malformed one is refused whatever the others say, as a strict
		// SP would.
		switch err := checkNotOnOrAfter(d, "SubjectConfirmationData", now, leeway); {
		case err == nil:
			inTime = true
		case !errors.Is(err, ErrExpired):
			return err
		case late == nil:
			late = err
		}
	}
	if inTime {
		return nil
	}
	return late
}

// CheckTimes refuses, with ErrExpired, a LogoutRequest whose NotOnOrAfter
// has passed beyond leeway; a LogoutRequest without one and a
// LogoutResponse have no times to check.
func (l *Logout) CheckTimes(now time.Time, leeway time.Duration) error {
	if l.Kind != KindLogoutRequest {
		return nil
	}
	return checkNotOnOrAfter(l.root, KindLogoutRequest, now, leeway)
}

func checkNotOnOrAfter(el *etree.Element, where string, now time.Time, leeway time.Duration) error {
	a := el.SelectAttr("NotOnOrAfter")
	if a == nil {
		return nil
	}
	t, err := parseTime(a.Value)
	if err != nil {
		return fmt.Errorf("%s NotOnOrAfter: %w", where, err)
	}
	if !now.Before(t.Add(max(leeway, 0))) {
		return fmt.Errorf("%w: %s NotOnOrAfter %s passed %s ago, beyond the %s leeway",
			ErrExpired, where, a.Value, now.Sub(t).Round(time.Millisecond), max(leeway, 0))
	}
	return nil
}

func checkNotBefore(el *etree.Element, where string, now time.Time, leeway time.Duration) error {
	a := el.SelectAttr("NotBefore")
	if a == nil {
		return nil
	}
	t, err := parseTime(a.Value)
	if err != nil {
		return fmt.Errorf("%s NotBefore: %w", where, err)
	}
	if now.Add(max(leeway, 0)).Before(t) {
		return fmt.Errorf("%w: %s NotBefore %s is %s ahead, beyond the %s leeway",
			ErrExpired, where, a.Value, t.Sub(now).Round(time.Millisecond), max(leeway, 0))
	}
	return nil
}

// xsDateTime is the lexical form of xs:dateTime (without years beyond
// four digits, which no IdP writes). Go's own parser alone would also take
// a comma before the fraction.
var xsDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$`)

// parseTime reads an xs:dateTime. SAML wants UTC with a Z (core §1.3.3);
// fractions of a second (Keycloak writes milliseconds) and offsets are
// read as well, and a time without a zone is taken as the UTC the rule
// says it is.
func parseTime(v string) (time.Time, error) {
	m := xsDateTime.FindStringSubmatch(v)
	if m == nil {
		return time.Time{}, fmt.Errorf("%w: %q is not an xs:dateTime", ErrMalformed, v)
	}
	if m[2] == "" {
		v += "Z"
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q: %v", ErrMalformed, v, err)
	}
	return t, nil
}
