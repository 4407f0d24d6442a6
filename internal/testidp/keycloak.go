package testidp

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// KeycloakVersion is the Keycloak server distribution StartKeycloak runs by
// default (org.keycloak:keycloak-quarkus-dist from Maven Central). .ci/run
// pre-fetches the same version; change both together.
const KeycloakVersion = "26.7.3"

// Realm, clients and secrets of the realm StartKeycloak imports
// (keycloak/realm.json next to this file).
const (
	KeycloakRealm = "acme"
	// KeycloakWebClientID is a confidential client (client_secret_basic;
	// Keycloak accepts client_secret_post too) whose access tokens are JWTs
	// with Keycloak's default header typ "JWT".
	KeycloakWebClientID     = "web"
	KeycloakWebClientSecret = "web-secret"
	// KeycloakATClientID is the same, but its access tokens carry the
	// RFC 9068 header typ "at+jwt".
	KeycloakATClientID     = "web-at"
	KeycloakATClientSecret = "web-at-secret"

	// KeycloakAdminUser and KeycloakAdminPassword are the bootstrap admin
	// of the master realm (admin console, admin REST API).
	KeycloakAdminUser     = "admin"
	KeycloakAdminPassword = "admin-password"

	// KeycloakAdminClientID is a confidential client of the realm with no
	// browser flow: its service account (client_credentials at the realm's
	// token endpoint) holds realm-management's view-users, query-users and
	// manage-users, what the forms interceptor's admin REST directory and
	// tests reading users need. /admin/realms/acme/users answers it.
	KeycloakAdminClientID     = "idphooks-admin"
	KeycloakAdminClientSecret = "idphooks-admin-secret"

	// KeycloakCRMAttribute is a user-profile attribute of the realm (users
	// may set it; optional, at most 64 characters). Its being declared is
	// what makes Keycloak keep it: unmanaged attributes are off, so a
	// registration post of an undeclared field is dropped without a word.
	// The registration page renders it as a text input named crm_id.
	KeycloakCRMAttribute = "crm_id"
)

// The realm allows self-registration and password reset (the login page
// links to both), has no SMTP server, and asks for no email verification.
// Its user profile (keycloak/user-profile.json) declares Keycloak's four
// default attributes, KeycloakCRMAttribute, and "department" (admin only,
// for the SAML tests); unmanaged attributes are off.

//go:embed keycloak/realm.json
var keycloakRealmJSON []byte

//go:embed keycloak/user-profile.json
var keycloakUserProfileJSON []byte

// KeycloakOptions configures StartKeycloak.
type KeycloakOptions struct {
	// RedirectURIs are registered for both clients (exact match). Empty
	// means DefaultRedirectURI.
	RedirectURIs []string
	// PostLogoutRedirectURIs are accepted by the end_session endpoint.
	PostLogoutRedirectURIs []string
	// Version of the distribution; default KeycloakVersion.
	Version string
	// JavaHome is the JDK to run Keycloak with. Empty means
	// $KEYCLOAK_JAVA_HOME, else the newest JDK >= 21 under /usr/lib/jvm or
	// /opt, else $JAVA_HOME, else java on PATH (Keycloak 26 still starts
	// on Java 17).
	JavaHome string
	// CacheDir holds the unpacked distribution (CacheDir/keycloak-VERSION).
	// Empty means $IDPHOOKS_CACHE_DIR, else os.UserCacheDir()/idphooks.
	CacheDir string
	// Log, when set, receives Keycloak's output and the harness' timings.
	Log io.Writer
	// Args are appended to the kc.sh start-dev command line, e.g.
	// "--log-level=info,org.keycloak.protocol.oidc:debug".
	Args []string
	// FetchTimeout bounds the mvn download and unpack; default 10 minutes.
	FetchTimeout time.Duration
	// StartTimeout bounds the server start (a first start on a fresh
	// distribution runs Quarkus' augmentation, over a minute on 2 cores);
	// default 6 minutes.
	StartTimeout time.Duration
}

// StartKeycloak runs a real Keycloak server (kc.sh start-dev) on 127.0.0.1
// with a random port and the realm KeycloakRealm imported.
//
// The distribution comes from Maven Central through mvn
// (maven-dependency-plugin unpack of org.keycloak:keycloak-quarkus-dist:zip)
// and is unpacked once into the cache dir under a file lock. Each server
// gets a home of its own in a temporary folder (bin/kc.sh copied, lib,
// themes, providers and conf linked to the cached distribution, its own
// data folder with the dev H2 database and the realm to import), so test
// binaries may run several at once; starts are serialised by the same lock
// since a start may rewrite the shared Quarkus build in lib/quarkus.
//
// The server runs with --hostname-strict=false, --proxy-headers xforwarded
// and --http-enabled true: behind a reverse proxy that sets
// X-Forwarded-Host (Caddy does), Keycloak builds every URL, its issuer
// included, from the forwarded host. Provider.Issuer() is the issuer as
// seen directly: http://127.0.0.1:PORT/realms/acme.
//
// Clients: KeycloakWebClientID (typ JWT access tokens) and
// KeycloakATClientID (typ at+jwt), confidential, standard flow with PKCE
// S256, refresh tokens (offline tokens for scope offline_access),
// post-logout redirect URIs from the options; KeycloakAdminClientID, a
// service account for the admin REST API (not in Provider.Clients).
// Users: TestUser and SecondUser (their Keycloak ids equal Subject; name
// from first and last name). Endpoints are Keycloak's under /realms/acme/protocol/openid-connect/:
// auth, token, userinfo, certs, token/introspect, revoke, logout.
//
// Close stops the whole process tree (kc.sh and its java) and removes the
// server's home.
func StartKeycloak(opts KeycloakOptions) (*Provider, error) {
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, "testidp: keycloak: "+format+"\n", args...)
		}
	}
	version := opts.Version
	if version == "" {
		version = KeycloakVersion
	}
	fetchTimeout := opts.FetchTimeout
	if fetchTimeout <= 0 {
		fetchTimeout = 10 * time.Minute
	}
	startTimeout := opts.StartTimeout
	if startTimeout <= 0 {
		startTimeout = 6 * time.Minute
	}
	javaHome, err := keycloakJavaHome(opts.JavaHome)
	if err != nil {
		return nil, err
	}
	cache, err := keycloakCacheDir(opts.CacheDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("testidp: keycloak: %w", err)
	}
	realm, err := keycloakRealm(opts)
	if err != nil {
		return nil, err
	}

	// The lock covers the unpack and the start: the first start of a
	// distribution writes Quarkus' build into its lib/quarkus.
	unlock, err := lockFile(filepath.Join(cache, "keycloak-"+version+".lock"))
	if err != nil {
		return nil, fmt.Errorf("testidp: keycloak: lock: %w", err)
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()

	t0 := time.Now()
	dist, fetched, err := ensureKeycloakDist(cache, version, fetchTimeout, opts.Log)
	if err != nil {
		return nil, err
	}
	if fetched {
		logf("fetched and unpacked %s in %s", version, time.Since(t0).Round(time.Millisecond))
	}

	home, err := os.MkdirTemp("", "keycloak-home-*")
	if err != nil {
		return nil, fmt.Errorf("testidp: keycloak: %w", err)
	}
	removeHome := func() { os.RemoveAll(home) }
	if err := keycloakHome(home, dist, realm, javaHome); err != nil {
		removeHome()
		return nil, err
	}

	port, err := freePort()
	if err != nil {
		removeHome()
		return nil, err
	}
	args := []string{
		filepath.Join(home, "bin", "kc.sh"), "start-dev",
		"--http-host=127.0.0.1",
		"--http-port=" + strconv.Itoa(port),
		"--http-enabled=true",
		"--hostname-strict=false",
		"--proxy-headers=xforwarded",
		"--import-realm",
		"--health-enabled=false",
		"--metrics-enabled=false",
	}
	args = append(args, opts.Args...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Dir = home
	cmd.Env = keycloakEnv(javaHome, home)
	out := &TailBuffer{Max: 32 << 10, W: opts.Log}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	setProcessGroup(cmd)
	t1 := time.Now()
	if err := cmd.Start(); err != nil {
		removeHome()
		return nil, fmt.Errorf("testidp: keycloak: start kc.sh: %w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		pw.Close()
		close(exited)
	}()
	augmented := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "Quarkus augmentation completed") {
				select {
				case augmented <- struct{}{}:
				default:
				}
			}
			out.Write([]byte(line + "\n"))
		}
		io.Copy(io.Discard, pr)
	}()
	stop := func() error {
		err := killProcessGroup(cmd, exited, 20*time.Second)
		removeHome()
		return err
	}

	issuer := fmt.Sprintf("http://127.0.0.1:%d/realms/%s", port, KeycloakRealm)
	if err := waitDiscovery(context.Background(), issuer, startTimeout, exited); err != nil {
		stop()
		if waitErr != nil {
			err = fmt.Errorf("%w (kc.sh: %v)", err, waitErr)
		}
		return nil, fmt.Errorf("testidp: keycloak: %w\nkeycloak output:\n%s", err, out.String())
	}
	unlock()
	locked = false
	select {
	case <-augmented:
		logf("first start of %s (with Quarkus augmentation) took %s", version, time.Since(t1).Round(time.Millisecond))
	default:
		logf("started in %s", time.Since(t1).Round(time.Millisecond))
	}

	return &Provider{
		Name: "keycloak",
		Clients: []Client{
			{ID: KeycloakWebClientID, Secret: KeycloakWebClientSecret, AuthStyle: oauth2.AuthStyleInHeader, JWTAccessTokens: true},
			{ID: KeycloakATClientID, Secret: KeycloakATClientSecret, AuthStyle: oauth2.AuthStyleInHeader, JWTAccessTokens: true},
		},
		issuer:  issuer,
		closeFn: stop,
	}, nil
}

// SetKeycloakFrontendURL sets the frontend URL of the realm KeycloakRealm
// of the Keycloak server p (its realm attribute frontendUrl, what
// KC_HOSTNAME is for the whole server), through the admin REST API. With
// a frontend URL such as http://127.0.0.1:8443 the realm's issuer is
// http://127.0.0.1:8443/realms/acme for every request, direct or through a
// proxy; "" removes it, and Keycloak builds URLs from the request again
// (X-Forwarded-Host included).
func SetKeycloakFrontendURL(ctx context.Context, p *Provider, frontendURL string) error {
	base, ok := strings.CutSuffix(p.Issuer(), "/realms/"+KeycloakRealm)
	if !ok || p.Name != "keycloak" {
		return fmt.Errorf("testidp: %s is not a Keycloak realm issuer", p.Issuer())
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	tok, err := postForm(ctx, hc, base+"/realms/master/protocol/openid-connect/token", url.Values{
		"grant_type": {"password"}, "client_id": {"admin-cli"},
		"username": {KeycloakAdminUser}, "password": {KeycloakAdminPassword},
	})
	if err != nil {
		return fmt.Errorf("testidp: keycloak admin token: %w", err)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(tok, &t); err != nil || t.AccessToken == "" {
		return fmt.Errorf("testidp: keycloak admin token: %v: %.200s", err, tok)
	}
	body, _ := json.Marshal(map[string]any{
		"realm":      KeycloakRealm,
		"attributes": map[string]string{"frontendUrl": frontendURL},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/admin/realms/"+KeycloakRealm, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("testidp: keycloak realm update: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("testidp: keycloak realm update: HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

func postForm(ctx context.Context, hc *http.Client, endpoint string, form url.Values) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: HTTP %d: %.300s", endpoint, resp.StatusCode, b)
	}
	return b, nil
}

// keycloakRealm returns the realm to import with the options' redirect URIs.
func keycloakRealm(opts KeycloakOptions) ([]byte, error) {
	var realm map[string]any
	if err := json.Unmarshal(keycloakRealmJSON, &realm); err != nil {
		return nil, fmt.Errorf("testidp: keycloak: realm.json: %w", err)
	}
	// Keycloak keeps the declarative user profile as a JSON string in a
	// component's config; keeping it in a file of its own keeps it readable.
	var profile any
	if err := json.Unmarshal(keycloakUserProfileJSON, &profile); err != nil {
		return nil, fmt.Errorf("testidp: keycloak: user-profile.json: %w", err)
	}
	compact, _ := json.Marshal(profile)
	realm["components"] = map[string]any{
		"org.keycloak.userprofile.UserProfileProvider": []any{map[string]any{
			"providerId":    "declarative-user-profile",
			"subComponents": map[string]any{},
			"config":        map[string]any{"kc.user.profile.config": []string{string(compact)}},
		}},
	}
	redirects := opts.RedirectURIs
	if len(redirects) == 0 {
		redirects = []string{DefaultRedirectURI}
	}
	clients, _ := realm["clients"].([]any)
	for _, c := range clients {
		c := c.(map[string]any)
		if flow, _ := c["standardFlowEnabled"].(bool); !flow {
			continue // a service account's client redirects nowhere
		}
		c["redirectUris"] = redirects
		attrs, _ := c["attributes"].(map[string]any)
		if attrs == nil {
			attrs = map[string]any{}
			c["attributes"] = attrs
		}
		// Keycloak keeps several post-logout redirect URIs in one
		// attribute, separated by "##".
		attrs["post.logout.redirect.uris"] = strings.Join(opts.PostLogoutRedirectURIs, "##")
	}
	return json.MarshalIndent(realm, "", "  ")
}

// keycloakHome lays out a server home: bin/kc.sh copied (kc.sh takes
// kc.home.dir from its own resolved location), the rest linked to the
// cached distribution, data/import with the realm.
func keycloakHome(home, dist string, realm []byte, javaHome string) error {
	kc, err := os.ReadFile(filepath.Join(dist, "bin", "kc.sh"))
	if err != nil {
		return fmt.Errorf("testidp: keycloak: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(home, "bin"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(home, "bin", "kc.sh"), kc, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"lib", "themes", "providers", "conf", "version.txt"} {
		if _, err := os.Stat(filepath.Join(dist, name)); err != nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dist, name), filepath.Join(home, name)); err != nil {
			return fmt.Errorf("testidp: keycloak: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(home, "data", "import"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(home, "data", "import", KeycloakRealm+"-realm.json"), realm, 0o644); err != nil {
		return err
	}
	// A java wrapper that dies with its parent (see javaWrapper).
	if w := javaWrapper(javaHome); w != "" {
		if err := os.WriteFile(filepath.Join(home, "bin", "java"), []byte(w), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// keycloakEnv is the environment of kc.sh: no KC_* or JAVA_OPTS* from the
// caller, JAVA_HOME set, JAVA pointing at the wrapper when there is one.
func keycloakEnv(javaHome, home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "KC_") || strings.HasPrefix(k, "KEYCLOAK_") ||
			strings.HasPrefix(k, "JAVA_OPTS") || k == "JAVA_HOME" || k == "JAVA" || k == "JAVA_ADD_OPENS" {
			continue
		}
		env = append(env, kv)
	}
	if javaHome != "" {
		env = append(env, "JAVA_HOME="+javaHome)
	}
	if w := filepath.Join(home, "bin", "java"); fileExists(w) {
		env = append(env, "JAVA="+w)
	}
	// kc.sh's default outside containers; spelled out so a container's
	// percentage of a 24 GiB machine is not taken.
	env = append(env, "JAVA_OPTS_KC_HEAP=-Xms64m -Xmx768m",
		"KC_BOOTSTRAP_ADMIN_USERNAME="+KeycloakAdminUser,
		"KC_BOOTSTRAP_ADMIN_PASSWORD="+KeycloakAdminPassword)
	return env
}

// ensureKeycloakDist returns the unpacked distribution in cache, running
// mvn to fetch and unpack it when it is missing. The caller holds the lock.
func ensureKeycloakDist(cache, version string, timeout time.Duration, log io.Writer) (dir string, fetched bool, err error) {
	root := filepath.Join(cache, "keycloak-"+version)
	dist := filepath.Join(root, "keycloak-"+version)
	marker := filepath.Join(root, ".unpacked")
	if fileExists(marker) && fileExists(filepath.Join(dist, "bin", "kc.sh")) {
		return dist, false, nil
	}
	if _, err := exec.LookPath("mvn"); err != nil {
		return "", false, errors.New("testidp: keycloak: mvn is not on PATH; it fetches org.keycloak:keycloak-quarkus-dist from Maven Central")
	}
	os.RemoveAll(root)
	tmp, err := os.MkdirTemp(cache, ".keycloak-"+version+"-*")
	if err != nil {
		return "", false, err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mvn", "-B", "-q",
		"org.apache.maven.plugins:maven-dependency-plugin:3.8.1:unpack",
		"-Dartifact=org.keycloak:keycloak-quarkus-dist:"+version+":zip",
		"-DoutputDirectory="+filepath.Join(tmp, "out"),
		"-DmarkersDirectory="+filepath.Join(tmp, "markers"),
	)
	cmd.Dir = tmp // a standalone mvn run may write target/ into its folder
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if log != nil {
		cmd.Stdout = io.MultiWriter(&buf, log)
		cmd.Stderr = cmd.Stdout
	}
	if err := cmd.Run(); err != nil {
		return "", false, fmt.Errorf("testidp: keycloak: mvn unpack of keycloak-quarkus-dist %s: %w\n%s", version, err, buf.String())
	}
	if !fileExists(filepath.Join(tmp, "out", "keycloak-"+version, "bin", "kc.sh")) {
		return "", false, fmt.Errorf("testidp: keycloak: the unpacked distribution has no keycloak-%s/bin/kc.sh", version)
	}
	if err := os.Rename(filepath.Join(tmp, "out"), root); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(marker, []byte(version+"\n"), 0o644); err != nil {
		return "", false, err
	}
	return dist, true, nil
}

func keycloakCacheDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if d := os.Getenv("IDPHOOKS_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("testidp: keycloak: no cache dir: %w", err)
	}
	return filepath.Join(d, "idphooks"), nil
}

// keycloakJavaHome picks the JDK (see KeycloakOptions.JavaHome); "" means
// java on PATH.
func keycloakJavaHome(explicit string) (string, error) {
	for _, h := range []string{explicit, os.Getenv("KEYCLOAK_JAVA_HOME")} {
		if h != "" {
			if !fileExists(filepath.Join(h, "bin", "java")) {
				return "", fmt.Errorf("testidp: keycloak: %s/bin/java does not exist", h)
			}
			return h, nil
		}
	}
	type jdk struct {
		home  string
		major int
	}
	var found []jdk
	for _, root := range []string{"/usr/lib/jvm", "/opt"} {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			h := filepath.Join(root, e.Name())
			if !fileExists(filepath.Join(h, "bin", "java")) {
				continue
			}
			if m := jdkMajor(h); m >= 21 {
				found = append(found, jdk{h, m})
			}
		}
	}
	if len(found) > 0 {
		sort.Slice(found, func(i, j int) bool { return found[i].major > found[j].major })
		return found[0].home, nil
	}
	if h := os.Getenv("JAVA_HOME"); h != "" && fileExists(filepath.Join(h, "bin", "java")) {
		return h, nil
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "", errors.New("testidp: keycloak: no JDK found (set KEYCLOAK_JAVA_HOME or JAVA_HOME, or put java on PATH)")
	}
	return "", nil
}

// jdkMajor reads the major version from a JDK's release file; 0 if unknown.
func jdkMajor(home string) int {
	b, err := os.ReadFile(filepath.Join(home, "release"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "JAVA_VERSION="); ok {
			v = strings.Trim(v, "\" \r")
			v, _, _ = strings.Cut(v, ".")
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
