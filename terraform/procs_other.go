//go:build !linux

package terraform

import (
	"errors"
	"os/exec"
	"syscall"
)

// killMarked cannot find a run's processes without Linux's /proc: an
// interrupted run is left to its command's wait delay, which kills
// Terraform's own process only.
func killMarked(string) (int, error) { return 0, errors.ErrUnsupported }

// bootID and procStart need Linux's /proc: elsewhere a run's process is
// known by its PID alone.
func bootID() string { return "" }

func procStart(int) uint64 { return 0 }

// survivingTerraform and findChild cannot find a run's processes without
// /proc.
func survivingTerraform(string, *childProc) ([]procID, error) { return nil, errors.ErrUnsupported }

func findChild(string) (childProc, bool) { return childProc{}, false }

func running(procID) bool { return false }

func interruptProcess(procID) error { return errors.ErrUnsupported }

// setChildAttr starts cmd in a process group of its own (no parent-death
// signal without Linux).
func setChildAttr(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }
