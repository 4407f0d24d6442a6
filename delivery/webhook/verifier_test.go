package webhook

import (
	"testing"

	"github.com/idphooks/idphooks/internal/whverifier"
)

// The independent receiver (internal/whverifier) under the names these
// tests use.
type (
	delivered  = whverifier.Delivered
	answerSpec = whverifier.Answer
	receiver   struct{ *whverifier.Receiver }
)

func startVerifier(t *testing.T, secrets, publicKeys []string, answers map[string]answerSpec) receiver {
	return receiver{whverifier.Start(t, secrets, publicKeys, answers)}
}

func (r receiver) log(t *testing.T) []delivered { return r.Log(t) }
