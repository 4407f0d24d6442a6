package oidc

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// closedURL is a loopback URL nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// check runs Check with the bound the Caddy module gives it.
func check(up *Upstream) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return up.Check(ctx)
}

// wantCheckError asserts that err says each of parts.
func wantCheckError(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("Check found nothing wrong")
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("Check says %q\nwant it to say %q", err, p)
		}
	}
}

// fakeDiscovery serves doc as the discovery document, with base in place
// of "BASE" in its values.
func fakeDiscovery(t *testing.T, doc map[string]any, jwks string) string {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			d := map[string]any{}
			for k, v := range doc {
				if s, ok := v.(string); ok {
					v = strings.ReplaceAll(s, "BASE", srv.URL)
				}
				d[k] = v
			}
			json.NewEncoder(w).Encode(d)
		case "/jwks":
			io.WriteString(w, jwks)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCheckDownUpstream(t *testing.T) {
	base := closedURL(t) + "/realms/acme"
	wantCheckError(t, check(NewUpstream(base, 0)),
		"idp_hooks: upstream "+base+": discovery at "+base+"/.well-known/openid-configuration: connection refused",
		"is the IdP running and reachable from Caddy?",
		"every request through idp_hooks is answered 502")
}

func TestCheckHTMLUpstream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "\n<!doctype html><title>Welcome to nginx!</title>")
	}))
	defer srv.Close()
	wantCheckError(t, check(NewUpstream(srv.URL, 0)),
		"discovery at "+srv.URL+"/.well-known/openid-configuration: an HTML page, not a JSON object",
		"is upstream the IdP's issuer URL")
}

func TestCheckWrongPath(t *testing.T) {
	base := fakeDiscovery(t, nil, "") + "/realms/acme" // nothing there
	wantCheckError(t, check(NewUpstream(base, 0)),
		"status 404 Not Found",
		"(Keycloak: http://host:8080/realms/<realm>)")
}

func TestCheckNoJWKSURI(t *testing.T) {
	base := fakeDiscovery(t, map[string]any{"issuer": "BASE", "token_endpoint": "BASE/token"}, "")
	wantCheckError(t, check(NewUpstream(base, 0)),
		"no jwks_uri: idphooks cannot verify the IdP's tokens",
		"a plain OAuth 2 server publishes no keys")
}

func TestCheckNoTokenEndpoint(t *testing.T) {
	base := fakeDiscovery(t, map[string]any{"issuer": "BASE", "jwks_uri": "BASE/jwks"}, "")
	wantCheckError(t, check(NewUpstream(base, 0)), "no token_endpoint", "OpenID Connect provider's discovery document")
}

func TestCheckKeysUnreachable(t *testing.T) {
	keys := closedURL(t) + "/jwks"
	base := fakeDiscovery(t, map[string]any{"issuer": "BASE", "token_endpoint": "BASE/token", "jwks_uri": keys}, "")
	wantCheckError(t, check(NewUpstream(base, 0)),
		"idp_hooks: upstream "+base+": keys at "+keys+": connection refused",
		"token requests that hooks apply to are answered 502")
}

func TestCheckNoUsableKeys(t *testing.T) {
	for jwks, why := range map[string]string{
		`{"keys":[]}`: "the key set holds no public key",
		`{"keys":[{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}]}`: "none of its 1 public keys verifies signatures",
		`<html>login</html>`: "an HTML page, not a JSON object",
	} {
		base := fakeDiscovery(t, map[string]any{"issuer": "BASE", "token_endpoint": "BASE/token", "jwks_uri": "BASE/jwks"}, jwks)
		wantCheckError(t, check(NewUpstream(base, 0)), "keys at "+base+"/jwks: "+why)
	}
}

// The Caddy module bounds Check: an IdP that never answers must not hold
// Caddy's start. The fetch goes on, and what it brings is cached.
func TestCheckHonoursContext(t *testing.T) {
	idp := newTestIdP(t)
	release := make(chan struct{})
	var hits atomic.Int32
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" {
			hits.Add(1)
			<-release
		}
		orig.ServeHTTP(w, r)
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release) // before the server's Close waits on the handler
		}
	})
	up := NewUpstream(idp.srv.URL, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	wantCheckError(t, up.Check(ctx), "discovery at "+idp.srv.URL+"/.well-known/openid-configuration: no answer within",
		"idphooks keeps trying in the background")
	close(release)
	// Joins the fetch still running, or finds its result cached.
	if _, err := up.Discovery(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("discovery fetched %d times, want the one Check started", n)
	}
}

// After a reload (Invalidate) with the IdP down, requests go on with the
// copy in hand, and Check says both.
func TestCheckStaleAfterReload(t *testing.T) {
	idp := newTestIdP(t)
	up := NewUpstream(idp.srv.URL, 0)
	if err := check(up); err != nil {
		t.Fatal(err)
	}
	up.Invalidate()
	idp.discoveryDown.Store(true)
	wantCheckError(t, check(up), "status 503 Service Unavailable", "is the IdP healthy, or still starting?",
		"Meanwhile idphooks uses the discovery document it fetched earlier.")
	if up.Cached() == nil {
		t.Error("the copy in hand was dropped")
	}
}

// A healthy IdP passes, and what Check fetched serves the requests that
// follow: they do not fetch again.
func TestCheckHealthyIsCached(t *testing.T) {
	idp := newTestIdP(t)
	var discHits atomic.Int32
	orig := idp.srv.Config.Handler
	idp.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" {
			discHits.Add(1)
		}
		orig.ServeHTTP(w, r)
	})
	up := NewUpstream(idp.srv.URL, 0)
	if err := check(up); err != nil {
		t.Fatalf("healthy IdP: %v", err)
	}
	h := newHarness(t, idp, []hookSpec{{src: tierHook}}, func(c *Config) { c.Upstream = up })
	if w := h.do(tokenRequest(codeForm())); w.Code != 200 {
		t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	if d, k := discHits.Load(), idp.jwksHits.Load(); d != 1 || k != 1 {
		t.Errorf("discovery fetched %d times, keys %d times; want once each, by Check", d, k)
	}
}

func TestCheckRealProvider(t *testing.T) {
	p := startZitadel(t)
	if err := check(NewUpstream(p.Issuer(), 0)); err != nil {
		t.Fatalf("zitadel: %v", err)
	}
}

// Raises names every event the package raises: a hook on an event
// missing from it would be reported as never run.
func TestRaisesEveryEventRaised(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	raised := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isSelector(call.Fun, "events", "New") || len(call.Args) == 0 {
				return true
			}
			if sel, ok := call.Args[0].(*ast.SelectorExpr); ok && isSelector(sel, "events", sel.Sel.Name) {
				raised[snake(sel.Sel.Name)] = true
			} else {
				t.Errorf("%s: events.New with an event id that is not an events constant", fset.Position(call.Pos()))
			}
			return true
		})
	}
	// Asked of a nil one, as the CLI does.
	got := slices.Sorted(slices.Values((*Interceptor)(nil).Raises()))
	want := slices.Sorted(func(yield func(string) bool) {
		for id := range raised {
			if !yield(id) {
				return
			}
		}
	})
	if !slices.Equal(got, want) {
		t.Errorf("Raises() = %v; the code raises %v", got, want)
	}
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
}

// snake is an events constant's name as its id: BeforeSAMLAssertion is
// before_saml_assertion.
func snake(name string) string {
	s := regexp.MustCompile(`([A-Z]+)([A-Z][a-z])`).ReplaceAllString(name, "${1}_${2}")
	s = regexp.MustCompile(`([a-z0-9])([A-Z])`).ReplaceAllString(s, "${1}_${2}")
	return strings.ToLower(s)
}
