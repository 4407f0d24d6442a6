package redistest

import (
	"errors"
	"testing"
)

func TestStartRestart(t *testing.T) {
	for name, opts := range map[string]Options{
		"plain": {},
		"acl":   {User: "idphooks", UserPassword: "s3cret"},
		"tls":   {TLS: true, Password: "pw"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Start(opts)
			if errors.Is(err, ErrNoRedis) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := s.ping(); err == nil {
				t.Fatal("still answers after Kill")
			}
			if err := s.Restart(); err != nil {
				t.Fatal(err)
			}
			if s.PID() == 0 {
				t.Fatal("no pid")
			}
		})
	}
}
