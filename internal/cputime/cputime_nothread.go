//go:build !linux

package cputime

import "time"

// Thread is measured on Linux only: 0 elsewhere, and the benchmarks that
// use it report no thread figure.
func Thread() time.Duration { return 0 }
