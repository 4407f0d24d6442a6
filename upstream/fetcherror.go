package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// FetchError is a fetch of an IdP document that got no usable answer: the
// IdP could not be reached, or answered with another status than 200. Its
// text is read by whoever runs Caddy, so it says what happened in a few
// words rather than Go's layers of wrapping; Err keeps the whole cause.
type FetchError struct {
	URL    string
	Status int   // the IdP's status when it answered another than 200, else 0
	Err    error // why there was no answer; nil when Status says it all
}

func (e *FetchError) Error() string { return "GET " + e.URL + ": " + e.Reason() }

func (e *FetchError) Unwrap() error { return e.Err }

// Reason is what went wrong, without the URL: "connection refused",
// "status 404 Not Found", `host "keycloak" not found`.
func (e *FetchError) Reason() string {
	if e.Err == nil {
		return "status " + strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
	}
	var dns *net.DNSError
	var ne net.Error
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var badCert x509.CertificateInvalidError
	var plain tls.RecordHeaderError
	switch err := e.Err; {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &dns) && dns.IsNotFound:
		return "host " + strconv.Quote(dns.Name) + " not found"
	case errors.As(err, &dns):
		return "DNS lookup of " + strconv.Quote(dns.Name) + " failed: " + dns.Err
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to the host"
	case errors.As(err, &unknownCA), errors.As(err, &badHost), errors.As(err, &badCert):
		return "TLS: " + tlsCause(err)
	case errors.As(err, &plain):
		return "TLS handshake failed: the server does not speak TLS"
	}
	var ue *url.Error
	if errors.As(e.Err, &ue) {
		// Go's text repeats the method and the URL the message already has.
		return ue.Err.Error()
	}
	return e.Err.Error()
}

// tlsCause is a certificate error without the url.Error around it.
func tlsCause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// Unreachable reports a fetch that got no HTTP answer at all: the
// address, the network or TLS failed, not the IdP.
func (e *FetchError) Unreachable() bool {
	var ue *url.Error
	var re *redirectError
	return e.Status == 0 && errors.As(e.Err, &ue) && !errors.As(e.Err, &re)
}

// redirectError is a redirect the client refused to follow: the IdP
// answered, so it is not unreachable, but not with the document.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

// Hint is what to check, as a question, when the IdP could not be reached;
// "" when it answered (what a status means depends on the document).
func (e *FetchError) Hint() string {
	var re *redirectError
	if errors.As(e.Err, &re) {
		return "is this the URL the IdP serves the document at, rather than one it redirects from?"
	}
	if !e.Unreachable() {
		return ""
	}
	var dns *net.DNSError
	var ne net.Error
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var plain tls.RecordHeaderError
	switch err := e.Err; {
	case errors.As(err, &dns):
		return "is the host name right, and resolvable where Caddy runs (a container's name resolves only inside its network)?"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "is the IdP up, and does no firewall drop Caddy's connections to it?"
	case errors.As(err, &unknownCA):
		return "does the system Caddy runs on trust the CA of the IdP's certificate?"
	case errors.As(err, &badHost):
		return "does the IdP's certificate name the host of this URL?"
	case errors.As(err, &plain), strings.Contains(err.Error(), "HTTP response to HTTPS client"):
		// net/http says the latter in a string only.
		return "should the URL start with http:// rather than https://?"
	}
	return "is the IdP running and reachable from Caddy?"
}
