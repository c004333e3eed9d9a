//go:build !linux

package terraform

import "errors"

// killMarked cannot find a run's processes without Linux's /proc: an
// interrupted run is left to terraform-exec, which kills Terraform's own
// process only.
func killMarked(string) (int, error) { return 0, errors.ErrUnsupported }
