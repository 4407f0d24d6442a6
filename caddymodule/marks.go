package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"path"

	"github.com/caddyserver/certmagic"

	"github.com/idphooks/idphooks/delivery"
)

// marksPrefix is where receivers' disabled marks live in Caddy storage,
// one small JSON document per receiver (its name hashed: names are URLs).
// In Caddy storage rather than the queue: it is shared by the instances
// that share the signing keys, whichever state backend they use, and a
// mark is written once per 410, not per message.
const marksPrefix = "idphooks/receivers/disabled"

// storageMarks keeps delivery.Marks in Caddy storage.
type storageMarks struct{ s certmagic.Storage }

type markDoc struct {
	Receiver string `json:"receiver"`
	delivery.Mark
}

func markKey(receiver string) string {
	sum := sha256.Sum256([]byte(receiver))
	return path.Join(marksPrefix, hex.EncodeToString(sum[:16])+".json")
}

func (m storageMarks) Disabled(ctx context.Context) (map[string]delivery.Mark, error) {
	keys, err := m.s.List(ctx, marksPrefix, false)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]delivery.Mark{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]delivery.Mark, len(keys))
	for _, k := range keys {
		b, err := m.s.Load(ctx, k)
		if errors.Is(err, fs.ErrNotExist) {
			continue // cleared meanwhile
		}
		if err != nil {
			return nil, err
		}
		var d markDoc
		// A damaged document is no mark: the receiver is attempted, and
		// disabled again if it still answers 410.
		if json.Unmarshal(b, &d) == nil && d.Receiver != "" {
			out[d.Receiver] = d.Mark
		}
	}
	return out, nil
}

func (m storageMarks) MarkDisabled(ctx context.Context, receiver string, mk delivery.Mark) error {
	b, err := json.Marshal(markDoc{Receiver: receiver, Mark: mk})
	if err != nil {
		return err
	}
	return m.s.Store(ctx, markKey(receiver), b)
}

func (m storageMarks) ClearDisabled(ctx context.Context, receiver string) error {
	err := m.s.Delete(ctx, markKey(receiver))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
