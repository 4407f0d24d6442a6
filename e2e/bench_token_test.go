//go:build unix

package e2e

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/idphooks/idphooks/internal/e2etest"
)

// The fake IdP of BenchmarkCaddyTokenRewrite runs in a child process (this
// test binary, started with fakeIdPEnv set), so that neither its work nor
// the load generator's is in the CPU time of the process that runs Caddy.
//
// With fakeIdPEnv=child the child reads load commands on stdin (see
// fakeIdP.load); with fakeIdPEnv=host:port it only serves, for wrk:
//
//	go test -c -o /tmp/e2e.test ./e2e
//	IDPHOOKS_BENCH_FAKE_IDP=127.0.0.1:9400 /tmp/e2e.test
const fakeIdPEnv = "IDPHOOKS_BENCH_FAKE_IDP"

// The client the fake IdP issues tokens to, and the request the load
// generator sends: a refresh, which the IdP answers with a new ID token
// and a JWT access token.
const (
	benchClientID     = "web-jwt"
	benchClientSecret = "web-jwt-secret"
	benchTokenPath    = "/oauth/token"
	benchTokenForm    = "grant_type=refresh_token&refresh_token=rt-3q2-bench-opaque&scope=openid+profile+email"
)

// benchTokenHook is the trivial before_token hook: one claim in each token,
// so that both are re-signed.
const benchTokenHook = `
exports.onBeforeToken = async (event, api) => {
  api.idToken.setClaim("tier", "gold");
  api.accessToken.setClaim("tier", "gold");
};
`

func init() {
	// Runs before TestMain: the child never starts the suite's providers.
	if v := os.Getenv(fakeIdPEnv); v != "" {
		os.Exit(fakeIdPMain(v))
	}
}

// BenchmarkCaddyTokenRewrite sends refresh-token requests through a real
// Caddy (16 keep-alive connections, like wrk -c16) to a fake IdP whose
// answer is precomputed once a second: an RS256 ID token and an RS256 JWT
// access token. It compares reverse_proxy alone; idp_hooks with a hook
// limited to another application (the answer is captured and both tokens
// verified, since the client is read from them, but no hook runs and
// nothing is re-signed); and idp_hooks with one trivial before_token hook
// (verify both tokens, run the hook, re-sign both with ES256, remember
// two swaps in bbolt, splice the answer), and the same with the swap
// table on Redis (`state redis`, a redis-server on loopback started for
// this mode only, AOF with appendfsync everysec).
//
// seq-µs/req and seq-p50-µs are the mean and median wall time of one
// request on a single connection, one request at a time (sent from this
// process, after the concurrent run): the latency a client sees; the
// median is the steadier of the two on a shared machine. The Redis mode
// runs beside the same server with the embedded state (its twin) and
// times their requests alternately: embedded-p50-µs is the twin's
// median, added-p50-µs the difference of the medians. redis-rtt-µs is
// the mean round trip of a PING from this process to the same Redis,
// one loopback round trip, and redis-setmany-µs the mean time of what a
// rewritten answer writes (two 1.3 KB swap entries in one SetMany)
// outside Caddy. The goal: added-p50-µs at most one redis-rtt-µs.
//
// cpu-µs/op is the CPU time of this process per request (user+system,
// every thread, GC and bbolt's write-behind commits included), usr- and
// sys-µs/op its parts: Caddy's alone, since the IdP and the load generator
// run in a child process, whose own CPU per request is idp+load-cpu-µs/op.
// (The suite's TestMain also starts its test providers in this process;
// they sit idle.) gc-µs/op is the runtime's estimate of GC CPU within
// cpu-µs/op, gc/kreq the collections per thousand requests, live-MiB the
// heap the last one found live; B/op and allocs/op count the whole
// process too. ns/op and req/s are wall time at 16 connections, bound by
// the CPUs Caddy shares with the child: compare the modes' cpu-µs/op.
//
//	go test -run XXX -bench CaddyTokenRewrite -benchtime 20000x ./e2e
func BenchmarkCaddyTokenRewrite(b *testing.B) {
	idp := startFakeIdP(b)
	for _, mode := range []struct {
		name    string
		plain   bool
		apps    []string // the hook's application filter
		rewrite bool
		redis   bool // the state on Redis
	}{
		{name: "reverse_proxy", plain: true},
		{name: "idp_hooks/other_app", apps: []string{"another-app"}},
		{name: "idp_hooks/before_token", rewrite: true},
		{name: "idp_hooks/before_token/redis", rewrite: true, redis: true},
	} {
		b.Run(mode.name, func(b *testing.B) {
			dir := b.TempDir()
			hook := map[string]any{"path": e2etest.WriteHook(b, dir, "tier.js", benchTokenHook)}
			if mode.apps != nil {
				hook["applications"] = mode.apps
			}
			handler := map[string]any{
				"hooks":   []any{hook},
				"signing": map[string]any{"algorithm": "ES256"},
			}
			var origin, embedded string
			var rtt, setMany time.Duration
			if mode.redis {
				// Beside an embedded twin, for the latencies compared
				// request by request below.
				r := startBenchRedis(b)
				rtt, setMany = redisRTT(b, r.Addr), redisSetMany(b, r.Addr)
				onRedis := maps.Clone(handler)
				onRedis["state"] = map[string]any{"backend": "redis", "address": r.Addr,
					"key_prefix": fmt.Sprintf("bench-%d-%d:", os.Getpid(), time.Now().UnixNano())}
				origins := loadCaddyPair(b, dir, idp.issuer, onRedis, handler)
				origin, embedded = origins[0], origins[1]
			} else {
				origin = e2etest.LoadCaddy(b, e2etest.Config{
					Addr: e2etest.FreeAddr(b), Dir: dir, Upstream: idp.issuer, Plain: mode.plain,
					Handler: handler,
				})
			}
			target := origin + benchTokenPath
			checkBenchToken(b, target, idp.issuer, mode.rewrite)
			// Warm up: discovery and keys fetched, hook runtimes pooled,
			// connections open, the heap at its working size.
			idp.load(b, target, 16, 2000)
			runtime.GC()

			before := sampleCPU()
			b.ReportAllocs()
			b.ResetTimer()
			elapsed, childCPU := idp.load(b, target, 16, b.N)
			b.StopTimer()
			after := sampleCPU()

			n := float64(b.N)
			b.ReportMetric(float64(after.total-before.total)/1e3/n, "cpu-µs/op")
			b.ReportMetric(float64(after.user-before.user)/1e3/n, "usr-µs/op")
			b.ReportMetric(float64(after.sys-before.sys)/1e3/n, "sys-µs/op")
			b.ReportMetric((after.gc-before.gc)*1e6/n, "gc-µs/op")
			b.ReportMetric(float64(after.cycles-before.cycles)*1000/n, "gc/kreq")
			b.ReportMetric(float64(after.live)/(1<<20), "live-MiB")
			b.ReportMetric(n/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(childCPU)/1e3/n, "idp+load-cpu-µs/op")

			// One request at a time: the latency a request sees; in the
			// Redis mode alternately with the embedded twin's.
			if !mode.redis {
				lat := sequentialLatency(b, b.N, target)[0]
				b.ReportMetric(us(lat.mean()), "seq-µs/req")
				b.ReportMetric(us(lat.median()), "seq-p50-µs")
				return
			}
			checkBenchToken(b, embedded+benchTokenPath, idp.issuer, true)
			idp.load(b, embedded+benchTokenPath, 16, 2000)
			lat := sequentialLatency(b, b.N, target, embedded+benchTokenPath)
			b.ReportMetric(us(lat[0].mean()), "seq-µs/req")
			b.ReportMetric(us(lat[0].median()), "seq-p50-µs")
			b.ReportMetric(us(lat[1].median()), "embedded-p50-µs")
			b.ReportMetric(us(lat[0].median()-lat[1].median()), "added-p50-µs")
			b.ReportMetric(us(rtt), "redis-rtt-µs")
			b.ReportMetric(us(setMany), "redis-setmany-µs")
		})
	}
}

// cpuSample is this process's CPU time so far.
type cpuSample struct {
	user, sys, total time.Duration
	gc               float64 // seconds, the runtime's estimate
	cycles           uint64  // completed GC cycles
	live             uint64  // heap marked live by the last GC, bytes
}

func sampleCPU() cpuSample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s := cpuSample{user: time.Duration(ru.Utime.Nano()), sys: time.Duration(ru.Stime.Nano())}
	s.total = s.user + s.sys
	m := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	if m[0].Value.Kind() == metrics.KindFloat64 {
		s.gc = m[0].Value.Float64()
	}
	if m[1].Value.Kind() == metrics.KindUint64 {
		s.cycles = m[1].Value.Uint64()
	}
	if m[2].Value.Kind() == metrics.KindUint64 {
		s.live = m[2].Value.Uint64()
	}
	return s
}

// checkBenchToken sends one token request and checks that the answer is
// what the mode says: rewritten (ES256, the hook's claim in both tokens)
// or the IdP's own.
func checkBenchToken(b *testing.B, target, issuer string, rewritten bool) {
	b.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(benchTokenForm))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(benchClientID, benchClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("token answer %d: %s", resp.StatusCode, body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		b.Fatalf("token answer: %v: %s", err, body)
	}
	want := "RS256"
	if rewritten {
		want = "ES256"
	}
	for name, tok := range map[string]string{"ID token": tr.IDToken, "access token": tr.AccessToken} {
		h, p := e2etest.JWTParts(b, tok)
		if h["alg"] != want {
			b.Fatalf("%s alg %v, want %s", name, h["alg"], want)
		}
		if rewritten && p["tier"] != "gold" {
			b.Fatalf("%s has no hook claim: %v", name, p)
		}
		if p["iss"] != issuer {
			b.Fatalf("%s iss %v", name, p["iss"])
		}
	}
}

// fakeIdP is the child process.
type fakeIdP struct {
	issuer string
	mu     sync.Mutex
	in     io.Writer
	out    *bufio.Scanner
}

var benchIdP struct {
	once sync.Once
	p    *fakeIdP
	err  error
}

// startFakeIdP starts the child once per test binary; it ends when this
// process does (its stdin closes).
func startFakeIdP(b *testing.B) *fakeIdP {
	b.Helper()
	benchIdP.once.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			benchIdP.err = err
			return
		}
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), fakeIdPEnv+"=child")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			benchIdP.err = err
			return
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			benchIdP.err = err
			return
		}
		if err := cmd.Start(); err != nil {
			benchIdP.err = err
			return
		}
		p := &fakeIdP{in: in, out: bufio.NewScanner(out)}
		if !p.out.Scan() || !strings.HasPrefix(p.out.Text(), "issuer ") {
			benchIdP.err = fmt.Errorf("fake IdP did not start: %q %v", p.out.Text(), p.out.Err())
			return
		}
		p.issuer = strings.TrimPrefix(p.out.Text(), "issuer ")
		benchIdP.p = p
	})
	if benchIdP.err != nil {
		b.Fatal(benchIdP.err)
	}
	return benchIdP.p
}

// load makes the child send n token requests to target over conns
// connections and returns how long they took and the child's own CPU time
// (IdP and load generator). Any answer but 200 fails b.
func (p *fakeIdP) load(b *testing.B, target string, conns, n int) (elapsed, childCPU time.Duration) {
	b.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.in, "load %s %d %d\n", target, conns, n)
	if !p.out.Scan() {
		b.Fatalf("fake IdP: %v", p.out.Err())
	}
	f := strings.SplitN(p.out.Text(), " ", 5)
	if len(f) < 5 || f[0] != "done" {
		b.Fatalf("fake IdP: %q", p.out.Text())
	}
	ns, _ := strconv.ParseInt(f[1], 10, 64)
	cpu, _ := strconv.ParseInt(f[2], 10, 64)
	if f[3] != "0" {
		b.Fatalf("%s of %d requests failed: %s", f[3], n, f[4])
	}
	return time.Duration(ns), time.Duration(cpu)
}

// fakeIdPMain is the child: an IdP whose discovery, keys and token answer
// are precomputed, and a load generator driven from stdin.
func fakeIdPMain(mode string) int {
	addr := "127.0.0.1:0"
	if mode != "child" {
		addr = mode
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake IdP:", err)
		return 1
	}
	issuer := "http://" + ln.Addr().String()
	h, err := fakeIdPHandler(issuer)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake IdP:", err)
		return 1
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Printf("issuer %s\n", issuer)
	if mode != "child" {
		select {}
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var target string
		var conns, n int
		if _, err := fmt.Sscanf(in.Text(), "load %s %d %d", &target, &conns, &n); err != nil {
			fmt.Printf("error %v\n", err)
			continue
		}
		cpu := sampleCPU().total
		elapsed, failed, first := loadToken(target, conns, n)
		cpu = sampleCPU().total - cpu
		fmt.Printf("done %d %d %d %s\n", elapsed.Nanoseconds(), cpu.Nanoseconds(), failed, strings.ReplaceAll(first, "\n", " "))
	}
	return 0
}

// fakeIdPHandler serves discovery, the key set and the token endpoint.
func fakeIdPHandler(issuer string) (http.Handler, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	const kid = "fake-rs256"
	sign := func(typ string, claims jwt.MapClaims) (string, error) {
		t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		t.Header["kid"], t.Header["typ"] = kid, typ
		return t.SignedString(key)
	}
	// answer is the token answer of one second: tokens issued then, valid
	// for an hour, the ID token bound to its access token by at_hash.
	answer := func(now time.Time) ([]byte, error) {
		exp, iat := now.Add(time.Hour).Unix(), now.Unix()
		at, err := sign("at+jwt", jwt.MapClaims{
			"iss": issuer, "sub": "alice", "aud": "https://api.example", "client_id": benchClientID,
			"exp": exp, "iat": iat, "jti": fmt.Sprintf("at-%x", now.UnixNano()),
			"scope": "openid profile email", "sid": "s-8a7b6c5d",
		})
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(at))
		idt, err := sign("JWT", jwt.MapClaims{
			"iss": issuer, "sub": "alice", "aud": benchClientID, "azp": benchClientID,
			"exp": exp, "iat": iat, "auth_time": iat - 600,
			"at_hash": base64.RawURLEncoding.EncodeToString(sum[:16]), "sid": "s-8a7b6c5d",
			"name": "Alice Example", "preferred_username": "alice", "email": "alice@example.com",
			"email_verified": true, "locale": "en",
		})
		if err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{
			"access_token": at, "token_type": "Bearer", "expires_in": 3600,
			"refresh_token": "rt-3q2-bench-opaque", "id_token": idt, "scope": "openid profile email",
		})
	}
	// A new answer every second, as a real IdP's exp and iat advance
	// (the swap table's keys depend on the tokens); signed off the
	// request path, so that answering costs next to nothing.
	var current atomic.Pointer[[]byte]
	first, err := answer(time.Now())
	if err != nil {
		return nil, err
	}
	current.Store(&first)
	go func() {
		for now := range time.Tick(time.Second) {
			if b, err := answer(now); err == nil {
				current.Store(&b)
			}
		}
	}()
	discovery, _ := json.Marshal(map[string]any{
		"issuer": issuer, "authorization_endpoint": issuer + "/authorize",
		"token_endpoint": issuer + benchTokenPath, "userinfo_endpoint": issuer + "/userinfo",
		"jwks_uri": issuer + "/jwks", "response_types_supported": []string{"code"},
		"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
	})
	n := base64.RawURLEncoding.EncodeToString(key.N.Bytes())
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": "AQAB",
	}}})
	serve := func(body func() []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b := body()
			h := w.Header()
			h["Content-Type"] = []string{"application/json"}
			h["Content-Length"] = []string{strconv.Itoa(len(b))}
			h["Cache-Control"] = []string{"no-store"}
			_, _ = w.Write(b)
		}
	}
	fixed := func(b []byte) func() []byte { return func() []byte { return b } }
	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/openid-configuration", serve(fixed(discovery)))
	mux.Handle("GET /jwks", serve(fixed(jwks)))
	mux.Handle("POST "+benchTokenPath, serve(func() []byte { return *current.Load() }))
	return mux, nil
}

// loadToken sends n token requests to target over conns keep-alive
// connections, as wrk would: a prebuilt request, the answer read and
// dropped. It returns the time taken, how many failed and the first
// failure.
func loadToken(target string, conns, n int) (time.Duration, int, string) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, n, err.Error()
	}
	auth := base64.StdEncoding.EncodeToString([]byte(benchClientID + ":" + benchClientSecret))
	req := []byte("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUser-Agent: idphooks-bench\r\nAccept: application/json" +
		"\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: Basic " + auth +
		"\r\nContent-Length: " + strconv.Itoa(len(benchTokenForm)) + "\r\n\r\n" + benchTokenForm)
	var next, failed atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var br *bufio.Reader
			var err error
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for next.Add(1) <= int64(n) {
				if c == nil {
					if c, err = net.Dial("tcp", u.Host); err != nil {
						fail(err)
						c = nil
						continue
					}
					br = bufio.NewReaderSize(c, 8<<10)
				}
				keep, err := roundTrip(c, br, req)
				if err != nil {
					fail(err)
				}
				if !keep {
					c.Close()
					c = nil
				}
			}
		}()
	}
	wg.Wait()
	first, _ := firstErr.Load().(string)
	return time.Since(start), int(failed.Load()), first
}

// roundTrip sends one request on c and reads its answer; keep reports
// whether c can carry the next one.
func roundTrip(c net.Conn, br *bufio.Reader, req []byte) (keep bool, err error) {
	if _, err := c.Write(req); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	return err == nil && !resp.Close, err
}

// latencies are the times of sequential requests.
type latencies []time.Duration

func (l latencies) mean() time.Duration {
	var total time.Duration
	for _, d := range l {
		total += d
	}
	return total / time.Duration(len(l))
}

func (l latencies) median() time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s[len(s)/2]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// sequentialLatency sends n token requests to each target, one request
// at a time over all of them (the targets in turn, which goes first
// alternating), each target on a keep-alive connection of its own, and
// returns each target's times.
func sequentialLatency(b *testing.B, n int, targets ...string) []latencies {
	b.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(benchClientID + ":" + benchClientSecret))
	type conn struct {
		host string
		req  []byte
		c    net.Conn
		br   *bufio.Reader
	}
	conns := make([]*conn, len(targets))
	for i, target := range targets {
		u, err := url.Parse(target)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = &conn{host: u.Host, req: []byte("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
			"\r\nUser-Agent: idphooks-bench\r\nAccept: application/json" +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: Basic " + auth +
			"\r\nContent-Length: " + strconv.Itoa(len(benchTokenForm)) + "\r\n\r\n" + benchTokenForm)}
	}
	defer func() {
		for _, c := range conns {
			if c.c != nil {
				c.c.Close()
			}
		}
	}()
	out := make([]latencies, len(targets))
	for i := range n {
		for j := range conns {
			k := (i + j) % len(conns)
			c := conns[k]
			if c.c == nil {
				var err error
				if c.c, err = net.Dial("tcp", c.host); err != nil {
					b.Fatal(err)
				}
				c.br = bufio.NewReaderSize(c.c, 8<<10)
			}
			start := time.Now()
			keep, err := roundTrip(c.c, c.br, c.req)
			d := time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if !keep {
				c.c.Close()
				c.c = nil
			}
			out[k] = append(out[k], d)
		}
	}
	return out
}
