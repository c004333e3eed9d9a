package terraform

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces and parentheses:
	// the fields after it start past its last ')'. starttime is field 22,
	// the 20th after the name.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	fields := bytes.Fields(data[i+1:])
	if len(fields) < 20 {
		return 0
	}
	n, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// markedTerraform lists the processes carrying mark whose executable is a
// Terraform (named terraform, as the binary Spillway runs or the one a
// wrapper script starts), not a provider plugin or a provisioner's shell.
func markedTerraform(mark string) ([]int, error) {
	pids, err := markedProcesses([]byte(runMarkEnv + "=" + mark + "\x00"))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, pid := range pids {
		exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		if err == nil && filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == "terraform" {
			out = append(out, pid)
		}
	}
	return out, nil
}

// running reports whether process pid exists and has not exited (a
// zombie has exited).
func running(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i >= 0 && i+2 < len(data) && data[i+2] != 'Z' && data[i+2] != 'X'
}

// interruptProcess sends pid SIGINT, as a terminal's Ctrl-C would.
func interruptProcess(pid int) error { return syscall.Kill(pid, syscall.SIGINT) }

// setChildAttr starts cmd as terraform-exec starts Terraform: in a process
// group of its own, killed when Spillway dies.
func setChildAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
