//go:build !unix

package postgres

// peekQuiet cannot peek here: every session counts as quiet, and only
// sessions idle for longer than a second are pinged (pgx's default).
func peekQuiet(fd uintptr) bool { return true }
