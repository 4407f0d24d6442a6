//go:build !unix

package oidc

import "time"

// processCPU is not measured where getrusage does not exist; the
// overhead benchmarks then report no ratio.
func processCPU() time.Duration { return 0 }
