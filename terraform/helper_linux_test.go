//go:build linux

package terraform_test

import (
	"os"
	"syscall"
)

// dieWithParent has the kernel kill the helper when the process that
// started it ends, as terraform-exec has Terraform die with Spillway: a
// cancelled apply's provisioner (its shell killed by Terraform) then ends
// with it, instead of finishing on its own and writing its state file into
// the burst's directory while the test removes it.
func dieWithParent() {
	syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0)
	if os.Getppid() == 1 { // the parent ended before the signal was set
		os.Exit(1)
	}
}
