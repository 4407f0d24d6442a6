//go:build !linux

package testidp

import (
	"os/exec"
	"time"
)

// setProcessGroup is a no-op off Linux.
func setProcessGroup(*exec.Cmd) {}

// killProcessGroup kills kc.sh only; off Linux the java it started in the
// background may outlive it.
func killProcessGroup(cmd *exec.Cmd, exited <-chan struct{}, grace time.Duration) error {
	_ = cmd.Process.Kill()
	<-exited
	return nil
}

// javaWrapper is not used off Linux.
func javaWrapper(string) string { return "" }
