package outbound

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idphooks/idphooks/egress"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-5", 0}, {"abc", 0}, {"30", 30 * time.Second},
		{"999999999999", MaxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(1000 * time.Hour).Format(http.TimeFormat), MaxRetryAfter},
	} {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Fatalf("%q: %v, want %v", tt.in, got, tt.want)
		}
	}
}

// allow_hosts means what it means in a hook block: a single address is a
// host, so a listed metadata address stays closed (only a CIDR opens
// one). Checked without dialing: the address is never a target.
func TestAllowHostsMetadataAddress(t *testing.T) {
	p, listed, err := policyOf([]string{"169.254.169.254", "10.1.0.0/16"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("https://169.254.169.254/latest/meta-data/")
	if err := p.CheckURL(context.Background(), u); !errors.Is(err, egress.ErrRefused) || !strings.Contains(err.Error(), "cloud metadata") {
		t.Fatalf("CheckURL = %v", err)
	}
	if !listed("169.254.169.254") || !listed("10.1.2.3") || listed("10.2.0.1") {
		t.Fatal("listed does not follow allow_hosts")
	}
}

// A receiver that answers an error quoting its URL in JSON escapes the
// token in it as its encoder does: PHP's json_encode writes / as \/,
// Go's writes & as \u0026. No spelling of it shows in the error.
func TestStatusErrorRedactsJSONEchoes(t *testing.T) {
	const code = "Ab/cD+eF==&<x>"
	e, err := New(Config{URL: "http://127.0.0.1:9/x", AllowHosts: []string{"127.0.0.1"}, Redact: []string{code}})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"url":"\/x?code=Ab\/cD+eF==&<x>"}`,
		`{"url":"/x?code=Ab/cD+eF==\u0026\u003cx\u003e"}`,
		`{"url":"\/x?code=Ab\/cD+eF==\u0026\u003cx\u003e"}`,
		`{"url":"/x?code=Ab/cD+eF==&<x>"}`,
	} {
		msg := e.StatusError(&Answer{Status: 500, Body: []byte(body)}, "").Error()
		if strings.Contains(msg, "cD+eF") || !strings.Contains(msg, "[REDACTED]") {
			t.Errorf("answer %s: error %s", body, msg)
		}
	}
}
