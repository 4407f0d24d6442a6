package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/idphooks/idphooks/delivery"

	"github.com/idphooks/idphooks/delivery/webhook"
)

func TestProvisionWebhooks(t *testing.T) {
	ctx, _ := provisionContext(t)
	secret := webhook.GenerateSecret()
	t.Setenv("IDPHOOKS_TEST_WHSEC", secret)
	t.Setenv("IDPHOOKS_TEST_UNSET_WHSEC", "")
	ok := WebhookConfig{URL: "https://crm.example/events", Events: []string{"after_login"}, Secrets: []string{"{env.IDPHOOKS_TEST_WHSEC}"}}
	for _, tc := range []struct {
		name string
		w    WebhookConfig
		want string
	}{
		{"notify", ok, ""},
		{"enrich", WebhookConfig{URL: "http://127.0.0.1:9/x", Events: []string{"before_token"}, Mode: "enrich", AllowHosts: []string{"127.0.0.1"}, Secrets: []string{secret}, OnError: "continue"}, ""},
		{"no secret", WebhookConfig{URL: "https://a.example/x", Events: []string{"after_login"}}, "a secret (whsec_…) or a signing_key is required"},
		{"unset secret", WebhookConfig{URL: "https://a.example/x", Events: []string{"after_login"}, Secrets: []string{"{env.IDPHOOKS_TEST_UNSET_WHSEC}"}}, "is not set"},
		{"not whsec", WebhookConfig{URL: "https://a.example/x", Events: []string{"after_login"}, Secrets: []string{"hunter2-hunter2-hunter2-hunter2"}}, "whsec_"},
		{"password event", WebhookConfig{URL: "https://a.example/x", Events: []string{"before_password_validation"}, Secrets: []string{secret}}, "before_password_validation"},
		{"unknown event", WebhookConfig{URL: "https://a.example/x", Events: []string{"after_lunch"}, Secrets: []string{secret}}, "after_lunch"},
		{"user information", WebhookConfig{URL: "https://user:pw-in-url@crm.example/x", Events: []string{"after_login"}, Secrets: []string{secret}}, "holds user information"},
		{"plain http", WebhookConfig{URL: "http://crm.example/x", Events: []string{"after_login"}, Secrets: []string{secret}}, "http"},
		{"enrich on an async event", WebhookConfig{URL: "https://a.example/x", Events: []string{"after_login"}, Mode: "enrich", Secrets: []string{secret}}, "is an async event"},
		{"on_error on notify", WebhookConfig{URL: "https://a.example/x", Events: []string{"after_login"}, OnError: "continue", Secrets: []string{secret}}, "on_error is for enrich webhooks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			h := &Handler{StatePath: filepath.Join(dir, "state.db"), Webhooks: []WebhookConfig{tc.w}}
			err := h.Provision(ctx)
			t.Cleanup(func() { _ = h.Cleanup() })
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.w.Mode != "enrich" {
					if _, err := os.Stat(filepath.Join(dir, "queue.db")); err != nil {
						t.Fatalf("no queue beside the state file: %v", err)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Provision: %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "pw-in-url") {
				t.Fatal("the error shows the secret")
			}
		})
	}
}

// A token in a webhook's URL (Azure Functions' ?code=) is written as a
// placeholder: the receiver gets the value, its name (logs, metrics, the
// admin API, the audit, the queue) shows the placeholder, and errors
// quoting the URL never show the value.
func TestWebhookURLPlaceholder(t *testing.T) {
	t.Setenv("IDPHOOKS_TEST_FN_CODE", "fn-c0de-s3cret")
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.Query().Get("code"))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	raw := srv.URL + "/api/hook?code={env.IDPHOOKS_TEST_FN_CODE}"
	b, err := buildWebhooks([]WebhookConfig{{URL: raw, Events: []string{"after_login"}, AllowHosts: []string{"127.0.0.1"},
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}, caddy.NewReplacer())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.senders) != 1 {
		t.Fatalf("senders %v", b.senders)
	}
	for name, r := range b.senders {
		if !strings.Contains(name, "{env.IDPHOOKS_TEST_FN_CODE}") || strings.Contains(name, "s3cret") {
			t.Fatalf("receiver name %q", name)
		}
		res := r.Sender.Send(context.Background(), delivery.Message{ID: delivery.NewID(), Receiver: name, Event: "after_login", Time: time.Now(), Payload: []byte(`{"type":"after_login","data":{}}`)})
		if res.Err != nil || got.Load() != "fn-c0de-s3cret" {
			t.Fatalf("delivery: %+v, the receiver got code %v", res, got.Load())
		}
	}
	// Unset: a clear error naming the placeholder.
	if _, err := buildWebhooks([]WebhookConfig{{URL: "https://fn.example/api?code={env.IDPHOOKS_TEST_UNSET_CODE}", Events: []string{"after_login"},
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}, caddy.NewReplacer()); err == nil || !strings.Contains(err.Error(), "IDPHOOKS_TEST_UNSET_CODE") {
		t.Fatalf("an unset placeholder: %v", err)
	}
	// A URL check that fails names the placeholder, not the value.
	_, err = buildWebhooks([]WebhookConfig{{URL: "ftp://fn.example/api?code={env.IDPHOOKS_TEST_FN_CODE}", Events: []string{"after_login"},
		Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}, caddy.NewReplacer())
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a refused URL: %v", err)
	}
}
