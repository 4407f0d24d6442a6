package saml

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// clock is the instant the times tests check at.
var clock = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// timedResponse is Keycloak's signed Response with its Conditions and
// bearer SubjectConfirmationData times replaced ("" drops the attribute).
func timedResponse(t *testing.T, notBefore, notOnOrAfter, subjectNotOnOrAfter string) *Response {
	t.Helper()
	a := keycloakAssertion("alice", 0)
	a = setAttr(a, "Conditions", "NotBefore", notBefore)
	a = setAttr(a, "Conditions", "NotOnOrAfter", notOnOrAfter)
	a = setAttr(a, "SubjectConfirmationData", "NotOnOrAfter", subjectNotOnOrAfter)
	return signedWith(t, a)
}

func signedWith(t *testing.T, assertion string) *Response {
	t.Helper()
	r, err := verifier().Verify([]byte(idpSign(t, keycloakResponse(assertion), "dsig", "ID_a1b2c3")))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// setAttr sets attr of the first saml:el start tag in x to v, or drops it
// when v is "".
func setAttr(x, el, attr, v string) string {
	start := strings.Index(x, "<saml:"+el+" ")
	end := start + strings.IndexByte(x[start:], '>')
	tag := x[start:end]
	i := strings.Index(tag, " "+attr+`="`)
	j := i + len(attr) + 3 + strings.IndexByte(tag[i+len(attr)+3:], '"') + 1
	repl := ""
	if v != "" {
		repl = " " + attr + `="` + v + `"`
	}
	return x[:start] + tag[:i] + repl + tag[j:] + x[end:]
}

func TestResponseCheckTimes(t *testing.T) {
	const (
		before = "2026-12-02T09:59:00Z"
		after  = "2026-12-02T10:01:00Z"
		later  = "2026-12-02T10:05:00Z"
	)
	cases := map[string]struct {
		notBefore, notOnOrAfter, subject string
		now                              time.Time
		want                             error
		says                             string
	}{
		"valid":                          {before, after, later, clock, nil, ""},
		"within the leeway":              {before, after, later, clock.Add(90 * time.Second), nil, ""},
		"expired by 2 min, 1 min leeway": {before, after, later, clock.Add(3 * time.Minute), ErrExpired, "Conditions NotOnOrAfter " + after + " passed 2m0s ago, beyond the 1m0s leeway"},
		"at NotOnOrAfter plus leeway":    {before, after, later, clock.Add(2 * time.Minute), ErrExpired, "passed 1m0s ago"},
		"not yet valid":                  {before, after, later, clock.Add(-3 * time.Minute), ErrExpired, "Conditions NotBefore " + before + " is 2m0s ahead"},
		"subject confirmation expired":   {before, "2026-12-02T11:00:00Z", after, clock.Add(3 * time.Minute), ErrExpired, "SubjectConfirmationData NotOnOrAfter"},
		"no times":                       {"", "", "", clock.Add(1000 * time.Hour), nil, ""},
		"fractional seconds":             {"2026-12-02T09:59:00.123Z", "2026-12-02T10:01:00.999999Z", "2026-12-02T10:05:00.5Z", clock, nil, ""},
		"fraction counted":               {before, "2026-12-02T10:00:59.250Z", later, clock.Add(2 * time.Minute), ErrExpired, "passed 1m0.75s ago"},
		"offsets":                        {"2026-12-02T10:59:00+01:00", "2026-12-02T05:01:00-05:00", "2026-12-02T15:35:00+05:30", clock, nil, ""},
		"offset counted":                 {before, "2026-12-02T11:01:00+01:00", later, clock.Add(3 * time.Minute), ErrExpired, "passed 2m0s ago"},
		"no zone is UTC":                 {"2026-12-02T09:59:00", "2026-12-02T10:01:00", later, clock, nil, ""},
		"malformed NotOnOrAfter":         {before, "2026-12-02 10:01:00Z", later, clock, ErrMalformed, "Conditions NotOnOrAfter"},
		"malformed NotBefore":            {"yesterday", after, later, clock, ErrMalformed, "Conditions NotBefore"},
		"comma before the fraction":      {before, "2026-12-02T10:01:00,5Z", later, clock, ErrMalformed, ""},
		"month 13":                       {before, "2026-13-02T10:01:00Z", later, clock, ErrMalformed, ""},
		"malformed subject time":         {before, after, "soon", clock, ErrMalformed, "SubjectConfirmationData"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := timedResponse(t, c.notBefore, c.notOnOrAfter, c.subject).CheckTimes(c.now, time.Minute)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if err != nil && !strings.Contains(err.Error(), c.says) {
				t.Fatalf("%q does not say %q", err, c.says)
			}
			if errors.Is(err, ErrExpired) && errors.Is(err, ErrMalformed) {
				t.Fatal("both expired and malformed")
			}
		})
	}
}

// One bearer confirmation in time is enough; a malformed one is refused
// whatever the others say.
func TestResponseCheckTimesConfirmations(t *testing.T) {
	a := keycloakAssertion("alice", 0)
	a = setAttr(a, "Conditions", "NotBefore", "2026-12-02T09:00:00Z")
	a = setAttr(a, "Conditions", "NotOnOrAfter", "2026-12-02T12:00:00Z")
	sc := a[strings.Index(a, "<saml:SubjectConfirmation "):strings.Index(a, "</saml:Subject>")]
	withTimes := func(first, second string) *Response {
		one := setAttr(sc, "SubjectConfirmationData", "NotOnOrAfter", first)
		two := setAttr(sc, "SubjectConfirmationData", "NotOnOrAfter", second)
		return signedWith(t, strings.Replace(a, sc, one+two, 1))
	}
	if err := withTimes("2026-12-02T09:00:00Z", "2026-12-02T10:05:00Z").CheckTimes(clock, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := withTimes("2026-12-02T09:00:00Z", "2026-12-02T09:30:00Z").CheckTimes(clock, time.Minute); !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "09:00:00Z passed 1h0m0s ago") {
		t.Fatalf("both passed: %v", err)
	}
	if err := withTimes("2026-12-02T09:00:00Z", "later").CheckTimes(clock, time.Minute); !errors.Is(err, ErrMalformed) {
		t.Fatalf("one passed, one malformed: %v", err)
	}
	if err := withTimes("2026-12-02T10:05:00Z", "later").CheckTimes(clock, time.Minute); !errors.Is(err, ErrMalformed) {
		t.Fatalf("one in time, one malformed: %v", err)
	}
}

func TestErrorResponseHasNoTimes(t *testing.T) {
	x := `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="ID_err" Version="2.0" IssueInstant="` + ts(0) + `"><saml:Issuer>` + testIssuer + `</saml:Issuer><samlp:Status><samlp:StatusCode Value="` + StatusResponder + `"/></samlp:Status></samlp:Response>`
	r, err := verifier().Verify([]byte(idpSign(t, x, "dsig", "ID_err")))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CheckTimes(clock.Add(1000*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
}

func TestLogoutCheckTimes(t *testing.T) {
	for name, c := range map[string]struct {
		xml  string
		now  time.Time
		want error
	}{
		"request in time":         {simpleSAMLphpLogoutRequest("2026-12-02T10:05:00Z"), clock, nil},
		"request expired":         {simpleSAMLphpLogoutRequest("2026-12-02T09:58:00Z"), clock, ErrExpired},
		"request in the leeway":   {simpleSAMLphpLogoutRequest("2026-12-02T09:59:30.5Z"), clock, nil},
		"request with offset":     {simpleSAMLphpLogoutRequest("2026-12-02T04:58:00-05:00"), clock, ErrExpired},
		"request malformed":       {simpleSAMLphpLogoutRequest("2026-12-02T10:05Z"), clock, ErrMalformed},
		"request without a bound": {keycloakLogoutRequest(), clock.Add(1000 * time.Hour), nil},
		"response":                {keycloakLogoutResponse(), clock.Add(1000 * time.Hour), nil},
	} {
		t.Run(name, func(t *testing.T) {
			l, err := verifier().VerifyLogout([]byte(c.xml), true)
			if err != nil {
				t.Fatal(err)
			}
			err = l.CheckTimes(c.now, time.Minute)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if err != nil && !strings.Contains(err.Error(), "LogoutRequest NotOnOrAfter") {
				t.Fatalf("%q does not say which time", err)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for v, d := range map[string]time.Duration{
		"2026-12-02T10:00:00Z":            0,
		"2026-12-02T10:00:00.120Z":        120 * time.Millisecond,
		"2026-12-02T10:00:00.1234567891Z": 123456789, // beyond nanoseconds is dropped
		"2026-12-02T11:00:00+01:00":       0,
		"2026-12-02T10:00:00-00:00":       0,
		"2026-12-02T10:00:00":             0,
	} {
		got, err := parseTime(v)
		if err != nil || !got.Equal(want.Add(d)) {
			t.Errorf("%s: %v %v", v, got, err)
		}
	}
	for _, v := range []string{"", " 2026-12-02T10:00:00Z", "2026-12-02T10:00:00Z ", "2026-12-02", "2026-12-02T10:00Z", "2026-12-02T25:00:00Z", "2026-12-02T10:00:00.Z", "2026-12-02T10:00:00+0100", "20261202T100000Z", "1764669600"} {
		if _, err := parseTime(v); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", v, err)
		}
	}
}
