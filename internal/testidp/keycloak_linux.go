package testidp

import (
	"errors"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// setProcessGroup starts kc.sh in a process group of its own, killed when
// the test process dies.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killProcessGroup stops kc.sh and the java it started: SIGTERM to the
// group (kc.sh forwards it and waits for java), SIGKILL after grace.
func killProcessGroup(cmd *exec.Cmd, exited <-chan struct{}, grace time.Duration) error {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	select {
	case <-exited:
	case <-time.After(grace):
	}
	// kc.sh is gone; wait for the rest of the group (java) too.
	for time.Now().Before(deadline) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-exited
	return nil
}

// javaWrapper returns a script that runs java under setpriv --pdeathsig,
// so that java dies with kc.sh (which dies with the test process); kc.sh
// starts java in the background, where the parent-death signal set on
// kc.sh does not reach. Empty when setpriv is not installed.
func javaWrapper(javaHome string) string {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return ""
	}
	java := "java"
	if javaHome != "" {
		java = filepath.Join(javaHome, "bin", "java")
	} else if p, err := exec.LookPath("java"); err == nil {
		java = p
	}
	return "#!/bin/sh\nexec " + shQuote(setpriv) + " --pdeathsig KILL -- " + shQuote(java) + " \"$@\"\n"
}

func shQuote(s string) string {
	out := "'"
	for _, r := range s {
		if r == '\'' {
			out += `'\''`
		} else {
			out += string(r)
		}
	}
	return out + "'"
}
