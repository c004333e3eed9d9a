package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ExampleConfig is the annotated config a person starts one from, named by
// the message for a config file that is not there.
const ExampleConfig = "configs/examples/spillway.yaml"

// ReadError is a config file that cannot be read: not there, a directory,
// not readable. Every command that takes a config reports it the same way,
// as every other problem of a config is reported: the file first, then
// what is wrong and what to give instead.
type ReadError struct {
	Path string
	Err  error // an *fs.PathError from the open or the read
}

func (e *ReadError) Unwrap() error { return e.Err }

func (e *ReadError) Error() string {
	var pe *fs.PathError
	cause := e.Err
	if errors.As(e.Err, &pe) {
		cause = pe.Err // the path is said first
	}
	where := ""
	if !filepath.IsAbs(e.Path) {
		// A service's working directory is seldom the one its unit
		// file's author had in mind.
		if wd, err := os.Getwd(); err == nil {
			where = fmt.Sprintf(" (relative to %s)", wd)
		}
	}
	switch {
	case errors.Is(e.Err, fs.ErrNotExist):
		return fmt.Sprintf("%s%s: no such config file: give the path of a config file; %s in Spillway's source is an annotated one to start from (check it with spillway policy validate FILE)", e.Path, where, ExampleConfig)
	case errors.Is(e.Err, syscall.EISDIR):
		return fmt.Sprintf("%s%s: is a directory, not a config file: give the file, e.g. %s", e.Path, where, filepath.Join(e.Path, "spillway.yaml"))
	case errors.Is(e.Err, fs.ErrPermission):
		return fmt.Sprintf("%s%s: cannot be read: %v: give this user read access to it, or run as a user who has it", e.Path, where, cause)
	}
	return fmt.Sprintf("%s%s: cannot be read: %v", e.Path, where, cause)
}
