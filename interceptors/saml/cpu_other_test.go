//go:build !unix

package saml

import "time"

// processCPU is not measured where getrusage does not exist; the
// own-share benchmark then reports wall time only.
func processCPU() time.Duration { return 0 }
