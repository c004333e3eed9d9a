//go:build !linux

package terraform_test

// dieWithParent does nothing where the kernel has no parent-death signal.
func dieWithParent() {}
