//go:build !linux

package postgres

import "syscall"

// setUserTimeout does nothing here: TCP_USER_TIMEOUT is Linux's; sessions
// keep the keepalive only.
func setUserTimeout(string, string, syscall.RawConn) error { return nil }
