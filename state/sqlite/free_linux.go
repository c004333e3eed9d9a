package sqlite

import "syscall"

// freeBytes is how many bytes an unprivileged process may still write on
// the filesystem holding dir; -1 if it cannot be read.
func freeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * st.Bsize
}
