package caddymodule

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/idphooks/idphooks/delivery"
)

func TestStorageMarks(t *testing.T) {
	ctx := context.Background()
	fs := &certmagic.FileStorage{Path: t.TempDir()}
	m := storageMarks{fs}
	if got, err := m.Disabled(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty storage: %v %v", got, err)
	}
	since := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for _, r := range []string{"https://crm.example/events", "hook:a.js@idp"} {
		if err := m.MarkDisabled(ctx, r, delivery.Mark{Since: since, Reason: "the receiver is gone (410)"}); err != nil {
			t.Fatal(err)
		}
	}
	// A damaged document is no mark.
	if err := fs.Store(ctx, marksPrefix+"/junk.json", []byte("{")); err != nil {
		t.Fatal(err)
	}
	got, err := m.Disabled(ctx)
	if err != nil || len(got) != 2 || !got["https://crm.example/events"].Since.Equal(since) {
		t.Fatalf("marks: %v %v", got, err)
	}
	if err := m.ClearDisabled(ctx, "https://crm.example/events"); err != nil {
		t.Fatal(err)
	}
	if err := m.ClearDisabled(ctx, "never-marked"); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Disabled(ctx); len(got) != 1 || got["hook:a.js@idp"].Reason == "" {
		t.Fatalf("after clearing: %v", got)
	}
}
