//go:build !linux

package sqlite

// freeBytes is -1 (unknown) where statfs is not read.
func freeBytes(string) int64 { return -1 }
