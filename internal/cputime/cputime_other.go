//go:build !unix

// Package cputime measures the CPU a benchmark's process used, for the
// benchmarks that state a cost as CPU rather than wall time (GC and hook
// workers included).
package cputime

import "time"

// Process is not measured where getrusage does not exist: 0, and the
// benchmarks that use it report no ratio.
func Process() time.Duration { return 0 }
