package outbound

import (
	"fmt"
	"net/url"
)

// checkURL accepts an absolute http(s) URL with a host and no fragment.
// kind names the receiver in errors ("webhook"), and so does name when
// set (the URL may hold a token its name shows as a placeholder).
func checkURL(kind, name, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s: the URL is empty", kind)
	}
	u, err := url.Parse(raw)
	if err != nil {
		if name != "" {
			return nil, fmt.Errorf("%s %s: bad URL", kind, name)
		}
		return nil, fmt.Errorf("%s: bad URL: %v", kind, err)
	}
	shown := u.Redacted()
	if name != "" {
		shown = name
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("%s %s: the URL must be https:// (or http:// for a host in allow_hosts), not %q", kind, shown, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%s %s: the URL has no host", kind, shown)
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("%s %s: the URL has a #fragment, which is never sent", kind, shown)
	}
	if u.User != nil {
		// A password in the URL would show wherever the receiver is
		// named (logs, the admin API, the audit): receivers authenticate
		// idphooks otherwise (a webhook's signature, an Authorization
		// header).
		return nil, fmt.Errorf("%s %s: the URL holds user information, which would show wherever the receiver is named", kind, shown)
	}
	return u, nil
}

// DisplayURL is the URL as logs may show it: no credentials, no query
// (which may carry a token).
func DisplayURL(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery = nil, "", false
	return c.String()
}

// Origin is the URL's scheme and host, as RFC 6454 serialises an origin
// (https://rp.example, with a port only when the URL names one).
func Origin(u *url.URL) string {
	return u.Scheme + "://" + u.Host
}
