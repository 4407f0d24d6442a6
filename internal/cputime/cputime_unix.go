//go:build unix

// Package cputime measures the CPU a benchmark's process used, for the
// benchmarks that state a cost as CPU rather than wall time (GC and hook
// workers included).
package cputime

import (
	"syscall"
	"time"
)

// Process is the user+system CPU time of the whole process.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
