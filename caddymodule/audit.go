package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// The audit of changes: each config that loads records what changed in
// its hooks and webhooks since the last one (added, removed, changed, and
// which settings), as a structured log line and in Caddy's storage, where
// the admin endpoint lists it. It never holds a secret: hooks' secrets
// by name, webhooks' by count.

// auditSettle is how long a config runs before its changes are recorded:
// `caddy validate` and a config that fails to load further on are
// cleaned up before, and record nothing.
const auditSettle = time.Second

// auditKeep bounds the records kept in storage.
const auditKeep = 500

// auditItem is one hook or webhook that changed.
type auditItem struct {
	Kind   string         `json:"kind"` // hook, webhook, shared_signals
	Name   string         `json:"name"`
	Change string         `json:"change"` // added, removed, changed
	Fields []string       `json:"fields,omitempty"`
	Before map[string]any `json:"before,omitempty"`
	After  map[string]any `json:"after,omitempty"`
}

// auditRecord is one config load's changes.
type auditRecord struct {
	Time    time.Time   `json:"time"`
	Handler string      `json:"handler"`
	Changes []auditItem `json:"changes"`
}

// auditSnapshot is what the last config had, by kind and name.
type auditSnapshot map[string]map[string]any

// auditName names this handler in the audit: its IdP.
func (h *Handler) auditName() string {
	switch {
	case h.Upstream != "":
		return h.Upstream
	case h.SAML != nil:
		return h.SAML.IdPMetadata
	}
	return "default"
}

func auditKey(handler, file string) string {
	sum := sha256.Sum256([]byte(handler))
	return path.Join("idphooks", "audit", hex.EncodeToString(sum[:8]), file)
}

// snapshot is the audited view of the config's hooks, webhooks and
// Shared Signals receivers.
func (h *Handler) snapshot() auditSnapshot {
	s := auditSnapshot{}
	for i, hc := range h.Hooks {
		v := map[string]any{"path": hc.Path, "mode": hc.Mode, "timeout": time.Duration(hc.Timeout).String(), "on_error": hc.OnError,
			"applications": hc.Applications, "allow_hosts": hc.AllowHosts, "secrets": slices.Sorted(maps.Keys(hc.Secrets))}
		if b, err := os.ReadFile(hc.Path); err == nil {
			sum := sha256.Sum256(b)
			v["file_sha256"] = hex.EncodeToString(sum[:])
		}
		if h.dispatcher != nil && i < len(h.dispatcher.Hooks()) {
			v["events"] = h.dispatcher.Hooks()[i].Events()
		}
		s["hook "+hc.Path] = v
	}
	for _, w := range h.Webhooks {
		schedule := make([]string, len(w.RetrySchedule))
		for k, d := range w.RetrySchedule {
			schedule[k] = time.Duration(d).String()
		}
		s["webhook "+w.URL] = map[string]any{"url": w.URL, "mode": w.Mode, "events": w.Events, "applications": w.Applications,
			"allow_hosts": w.AllowHosts, "timeout": time.Duration(w.Timeout).String(), "on_error": w.OnError,
			"retry_schedule": schedule, "max_concurrency": w.MaxConcurrency, "rate": w.Rate,
			"secrets": len(w.Secrets), "signing_key": w.SigningKey != ""}
	}
	for _, ss := range h.SharedSignals {
		schedule := make([]string, len(ss.RetrySchedule))
		for k, d := range ss.RetrySchedule {
			schedule[k] = time.Duration(d).String()
		}
		// The authorization value by presence only: it may be the token
		// itself rather than a placeholder.
		s["shared_signals "+ss.URL] = map[string]any{"url": ss.URL, "events": ss.Events, "applications": ss.Applications,
			"audience": ss.Audience, "subject": ss.Subject, "allow_hosts": ss.AllowHosts,
			"timeout": time.Duration(ss.Timeout).String(), "retry_schedule": schedule, "authorization": ss.Authorization != ""}
	}
	// Round-trip through JSON, so that what is compared is what is stored.
	b, _ := json.Marshal(s)
	out := auditSnapshot{}
	_ = json.Unmarshal(b, &out)
	return out
}

// diffSnapshots lists the changes from before to after.
func diffSnapshots(before, after auditSnapshot) []auditItem {
	var out []auditItem
	names := slices.Sorted(maps.Keys(after))
	for _, name := range names {
		kind, id, _ := strings.Cut(name, " ")
		b, ok := before[name]
		if !ok {
			out = append(out, auditItem{Kind: kind, Name: id, Change: "added", After: after[name]})
			continue
		}
		var fields []string
		for _, k := range slices.Sorted(maps.Keys(after[name])) {
			if !reflect.DeepEqual(b[k], after[name][k]) {
				fields = append(fields, k)
			}
		}
		if len(fields) > 0 {
			out = append(out, auditItem{Kind: kind, Name: id, Change: "changed", Fields: fields, Before: b, After: after[name]})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[name]; !ok {
			kind, id, _ := strings.Cut(name, " ")
			out = append(out, auditItem{Kind: kind, Name: id, Change: "removed", Before: before[name]})
		}
	}
	return out
}

// audit records this config's changes once it has settled.
func (h *Handler) audit(ctx caddy.Context) {
	storage := ctx.Storage()
	snap := h.snapshot()
	name := h.auditName()
	log := h.logger.Named("audit")
	done := make(chan struct{})
	h.auditDone = done
	h.auditTimer = time.AfterFunc(auditSettle, func() {
		defer close(done)
		if ctx.Err() != nil {
			return // validated, or unloaded before it settled
		}
		c := context.Background()
		var before auditSnapshot
		if b, err := storage.Load(c, auditKey(name, "snapshot.json")); err == nil {
			_ = json.Unmarshal(b, &before)
		} else if !errors.Is(err, fs.ErrNotExist) {
			log.Error("audit: the last config's snapshot could not be read", zap.Error(err))
		}
		changes := diffSnapshots(before, snap)
		if len(changes) == 0 {
			return
		}
		rec := auditRecord{Time: time.Now().UTC(), Handler: name, Changes: changes}
		fields := []zap.Field{zap.String("handler", name), zap.Int("changes", len(changes))}
		for _, ch := range changes {
			fields = append(fields, zap.String(ch.Kind+" "+ch.Name, ch.Change+" "+strings.Join(ch.Fields, ",")))
		}
		log.Info("hooks and webhooks changed", fields...)
		b, _ := json.Marshal(rec)
		file := fmt.Sprintf("records/%s.json", rec.Time.Format("20060102T150405.000000000Z"))
		if err := storage.Store(c, auditKey(name, file), b); err != nil {
			log.Error("audit: the record could not be stored", zap.Error(err))
			return
		}
		sb, _ := json.Marshal(snap)
		if err := storage.Store(c, auditKey(name, "snapshot.json"), sb); err != nil {
			log.Error("audit: the snapshot could not be stored", zap.Error(err))
		}
		trimAudit(c, storage, name)
	})
}

// stopAudit cancels a record not yet begun, or waits (a little) for one
// being written: nothing writes into storage after Cleanup.
func (h *Handler) stopAudit() {
	if h.auditTimer == nil || h.auditTimer.Stop() {
		return
	}
	select {
	case <-h.auditDone:
	case <-time.After(5 * time.Second):
	}
}

// trimAudit keeps the newest auditKeep records.
func trimAudit(ctx context.Context, storage interface {
	List(context.Context, string, bool) ([]string, error)
	Delete(context.Context, string) error
}, name string) {
	keys, err := storage.List(ctx, auditKey(name, "records"), false)
	if err != nil || len(keys) <= auditKeep {
		return
	}
	sort.Strings(keys)
	for _, k := range keys[:len(keys)-auditKeep] {
		_ = storage.Delete(ctx, k)
	}
}

// auditRecords lists the stored records of every handler, newest first.
func auditRecords(ctx context.Context, limit int) ([]auditRecord, error) {
	storage := caddy.ActiveContext().Storage()
	dirs, err := storage.List(ctx, path.Join("idphooks", "audit"), false)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return []auditRecord{}, nil
		}
		return nil, err
	}
	var keys []string
	for _, d := range dirs {
		ks, err := storage.List(ctx, path.Join(d, "records"), false)
		if err == nil {
			keys = append(keys, ks...)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return path.Base(keys[i]) > path.Base(keys[j]) })
	out := []auditRecord{}
	for _, k := range keys {
		if len(out) >= limit {
			break
		}
		b, err := storage.Load(ctx, k)
		if err != nil {
			continue
		}
		var r auditRecord
		if json.Unmarshal(b, &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
