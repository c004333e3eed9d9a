package signals

import (
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RunGroup runs cmd, a program a source reads (a command source's, or a
// Slurm client that may be a wrapper script), as the leader of a process
// group of its own, and waits for it. Ending its context kills the whole
// group, not only the program; and when the program exits, what it left
// running in its group (a `job &`, a wrapper's ssh) is killed: that would
// hold its output open (os/exec reads to the end of it), failing the read
// after cmd.WaitDelay (a second when unset), and outlive every read, one
// more process a tick. The program's own output is read whole and its exit
// status kept. A process that left the group (setsid, a daemon) and holds
// the output still fails the read with exec.ErrWaitDelay.
func RunGroup(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = time.Second
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	done := make(chan struct{})
	go func() {
		defer close(done)
		// WNOWAIT leaves the program to cmd.Wait: unreaped, its pid is
		// still its group's, whose other members are then killed.
		var info unix.Siginfo
		for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}()
	err := cmd.Wait()
	<-done
	return err
}
