package binding

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"net/url"
)

// postScript submits the page's one form. It is a fixed text so that its
// hash can stand in PostPageCSP: no 'unsafe-inline', no nonce to thread.
const postScript = `document.forms[0].submit();`

// PostPageCSP is the Content-Security-Policy to send with a page from
// PostPage: only its own script runs, nothing loads. It sets no
// form-action, which browsers also apply to the SP's redirects after the
// post.
var PostPageCSP = func() string {
	sum := sha256.Sum256([]byte(postScript))
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'"
}()

// PostPage builds a minimal HTTP-POST binding page that posts message
// (base64 encoded here) as the field name (SAMLResponse or SAMLRequest),
// and relayState unless it is "", to action. It submits itself with a
// script allowed by PostPageCSP, and shows a button when scripts are off.
// action must be an absolute http or https URL.
func PostPage(action, name string, message []byte, relayState string) ([]byte, error) {
	if name != nameResponse && name != nameRequest {
		return nil, fmt.Errorf("binding: a POST page posts SAMLResponse or SAMLRequest, not %q", name)
	}
	u, err := url.Parse(action)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("binding: the POST page's action %q is not an absolute http(s) URL", action)
	}
	var b bytes.Buffer
	b.Grow(512 + len(action) + len(relayState) + len(message)*4/3)
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><meta name=\"referrer\" content=\"no-referrer\"><title>Continue</title></head>\n<body>\n<form method=\"post\" action=\"")
	b.WriteString(html.EscapeString(action))
	b.WriteString("\">\n<input type=\"hidden\" name=\"")
	b.WriteString(name)
	b.WriteString("\" value=\"")
	b.WriteString(base64.StdEncoding.EncodeToString(message))
	b.WriteString("\">\n")
	if relayState != "" {
		b.WriteString("<input type=\"hidden\" name=\"RelayState\" value=\"")
		b.WriteString(html.EscapeString(relayState))
		b.WriteString("\">\n")
	}
	b.WriteString("<noscript><button type=\"submit\">Continue</button></noscript>\n</form>\n<script>")
	b.WriteString(postScript)
	b.WriteString("</script>\n</body></html>\n")
	return b.Bytes(), nil
}
