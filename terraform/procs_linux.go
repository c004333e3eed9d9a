package terraform

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// killMarked kills every process whose environment carries mark, and the
// process group of each that leads one (Terraform leads its own: a member
// that dropped the mark goes with it), until none is left: a process may
// fork while its relatives are killed. It returns how many it killed.
// Processes are read from /proc; one of another user, or already a
// zombie, shows no environment and is not counted.
func killMarked(mark string) (int, error) {
	needle := []byte(runMarkEnv + "=" + mark + "\x00")
	killed := map[int]bool{}
	for round := 0; round < 50; round++ {
		pids, err := markedProcesses(needle)
		if err != nil {
			return len(killed), err
		}
		if len(pids) == 0 {
			return len(killed), nil
		}
		for _, pid := range pids {
			if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed[pid] = true
		}
		// A killed process shows its environment until it has exited.
		time.Sleep(10 * time.Millisecond)
	}
	return len(killed), errors.New("processes of the run kept appearing while they were killed")
}

// markedProcesses lists the processes (other than this one) whose
// environment holds needle, a NUL-terminated NAME=value entry.
func markedProcesses(needle []byte) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	inner := append([]byte{0}, needle...)
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue // gone, or not ours to read
		}
		if bytes.HasPrefix(env, needle) || bytes.Contains(env, inner) {
			out = append(out, pid)
		}
	}
	return out, nil
}

// bootID is the kernel's id of the current boot ("" when it cannot be
// read): a run recorded under another boot is over, whatever process
// has its PID now.
func bootID() string {
	data, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(data))
}

// procStart is when process pid started, in clock ticks since boot (0
// when it cannot be read): with the boot id, it tells a process from a
// later one given the same PID.
func procStart(pid int) uint64 {
	// starttime is field 22, the 20th after the name.
	fields := statFields(pid)
	if len(fields) < 20 {
		return 0
	}
	n, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// survivingTerraform lists the processes of a dead run (carrying mark)
// that are its Terraform, not a provider plugin or a provisioner's shell:
// the process the run started (child), if it outlived the run's server
// and is still that process (its start time), and every process run with
// the arguments the run gave it (what a wrapper script that does not exec
// Terraform runs, with "$@"), whatever its executable is named (tofu,
// terraform-1.5.7). A record without the child (the server died before
// finding it, or wrote the record before it recorded children) falls back
// to the executable's name, terraform.
func survivingTerraform(mark string, child *childProc) ([]procID, error) {
	pids, err := markedProcesses([]byte(runMarkEnv + "=" + mark + "\x00"))
	if err != nil {
		return nil, err
	}
	var out []procID
	for _, pid := range pids {
		pr := procID{PID: pid, Start: procStart(pid)}
		args := cmdline(pid)
		switch {
		case child == nil:
			exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
			if err == nil && filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == "terraform" {
				out = append(out, pr)
			}
		case pid == child.PID && pr.Start == child.Start,
			len(args) > 2 && len(args)-1 < len(child.Args) && slices.Equal(args[1:], child.Args[len(child.Args)-len(args)+1:]):
			// The child itself; or a process whose arguments are the
			// child's last ones: the wrapper's "$@" (two at least: a
			// Terraform command and a flag; a plugin has none).
			out = append(out, pr)
		}
	}
	return out, nil
}

// cmdline is process pid's arguments, its executable's first (nil when
// they cannot be read).
func cmdline(pid int) []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
}

// findChild finds the process this one started that carries mark: the
// command a run started (Terraform, or a wrapper script), once it has
// exec'd (before, it carries Spillway's environment).
func findChild(mark string) (childProc, bool) {
	needle := []byte(runMarkEnv + "=" + mark + "\x00")
	var pids []int
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	if len(tasks) == 0 {
		// A kernel without /proc/PID/task/TID/children: every marked
		// process is a candidate, its parent checked below.
		pids, _ = markedProcesses(needle)
	}
	self := os.Getpid()
	for _, pid := range pids {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil || !(bytes.HasPrefix(env, needle) || bytes.Contains(env, append([]byte{0}, needle...))) {
			continue
		}
		if parent(pid) != self {
			continue
		}
		start, args := procStart(pid), cmdline(pid)
		if start == 0 || len(args) == 0 {
			continue
		}
		return childProc{PID: pid, Start: start, Args: args}, true
	}
	return childProc{}, false
}

// parent is process pid's parent's PID (0 when it cannot be read).
func parent(pid int) int {
	fields := statFields(pid) // ppid is field 4, the 2nd after the name
	if len(fields) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(string(fields[1]))
	return n
}

// running reports whether process pr exists, has not exited (a zombie
// has exited), and is the same process (its start time, when known): a
// PID reused since is not it.
func running(pr procID) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pr.PID) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) || data[i+2] == 'Z' || data[i+2] == 'X' {
		return false
	}
	return pr.Start == 0 || procStart(pr.PID) == pr.Start
}

// interruptProcess sends pr SIGINT, as a terminal's Ctrl-C would, if it
// is still that process (its start time).
func interruptProcess(pr procID) error {
	if !running(pr) {
		return nil
	}
	return syscall.Kill(pr.PID, syscall.SIGINT)
}

// setChildAttr starts cmd as terraform-exec starts Terraform: in a process
// group of its own, killed when Spillway dies.
func setChildAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// statFields are the fields of /proc/PID/stat after the command name (nil
// when it cannot be read). The name, in parentheses, may hold spaces and
// parentheses: the fields after it start past its last ')'.
func statFields(pid int) [][]byte {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil
	}
	return bytes.Fields(data[i+1:])
}
