package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/spillway-io/spillway/api/tokens"
)

func init() { register(newTokenCmd) }

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens",
	}
	cmd.AddCommand(newTokenCreateCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var name, role, file string
	cmd := &cobra.Command{
		Use:   "create --name NAME --role viewer|operator|admin --file tokens.yaml",
		Short: "Make an API token and add its hash to the tokens file",
		Long: `Create makes a random 256-bit API token, prints it on standard output and
then adds its SHA-256 hash with the name and role to the tokens file
(created mode 0600 if missing). The token is shown only this once: the file
keeps its hash, never the token; a token that cannot be printed (standard
output on a full disk, or closed) is not added. A running server picks the change up without a
restart. Revoke a token by deleting its entry from the file. The file is
rewritten whole and renamed into place: --file must be a regular file (or
a link to one, which is kept), not a device, pipe, socket or directory.

Roles: viewer reads everything but the audit log; operator also creates and
cancels manual bursts within each pool's manual limits; admin may do all,
including reading the audit log.

Exit status: 0 when the token was added; 2 when a flag is refused or
missing (--file not a regular file too); 1 when the tokens file cannot be
read, parsed or written, already holds the name, or the token cannot be
printed.`,
		Example: `  spillway token create --name alice --role operator --file /etc/spillway/tokens.yaml
  export SPILLWAY_TOKEN=$(spillway token create --name ci --role viewer --file tokens.yaml)`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := tokens.CheckName(name); err != nil {
				return &usageError{err: fmt.Errorf("--name: %w", err)}
			}
			r, err := tokens.ParseRole(role)
			if err != nil {
				return &usageError{err: fmt.Errorf("--role: %w", err)}
			}
			target, err := tokensTarget(file)
			if err != nil {
				return &usageError{err: err}
			}
			if err := checkTokensFolder(target); err != nil {
				return err
			}
			return createToken(cmd.OutOrStdout(), cmd.ErrOrStderr(), target, file, name, r, rand.Reader)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "who the token is for (required)")
	fl.StringVar(&role, "role", "", "viewer, operator or admin (required)")
	fl.StringVar(&file, "file", "", "the tokens file (required)")
	for _, n := range []string{"name", "role", "file"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}

// createToken makes a token from rnd, writes it to stdout and only then
// adds its hash to target (file as given): a token that could not be
// written out (standard output on a full disk, or closed) is not added,
// where it was added and lost, its hash in the file and its name taken by
// a token no one has.
func createToken(stdout, stderr io.Writer, target, file, name string, role tokens.Role, rnd io.Reader) error {
	if f, err := tokens.Read(target); err == nil {
		// Asked before the token is shown, so that a name in use prints
		// no token; Add asks again under the folder's lock.
		for _, e := range f.Entries {
			if e.Name == name {
				return fmt.Errorf("token name %q is already in %s: choose another name, or delete its entry to replace it", name, target)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var seed [32]byte // as much as tokens.Generate reads
	if _, err := io.ReadFull(rnd, seed[:]); err != nil {
		return fmt.Errorf("reading random bytes for a token: %w", err)
	}
	tok, err := tokens.Generate(bytes.NewReader(seed[:]))
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, tok); err != nil {
		// Not outputClosed's quiet exit 0: nothing was done.
		return &exitCodeError{code: 1, msg: fmt.Sprintf("spillway: token create: the token could not be written to standard output (%v), so it was not added to %s: run it again with its output going where it is kept", err, file)}
	}
	added, err := tokens.Add(target, name, role, time.Now(), bytes.NewReader(seed[:]))
	if err == nil && added != tok {
		err = errors.New("the token added is not the one printed (a mistake in spillway: please report it)")
	}
	if err != nil {
		return fmt.Errorf("%w; the token printed above was not added and does not work", err)
	}
	fmt.Fprintf(stderr, "token %q (%s) added to %s as its SHA-256 hash.\nThe token above is shown only once: store it now (e.g. in SPILLWAY_TOKEN).\n", name, role, file)
	return nil
}

// tokensTarget is the file token create rewrites for --file: the file
// itself, or the file a symbolic link names (the link is kept, so a tokens
// file linked from where configuration management put it stays linked).
// Anything but a regular file is refused: the file is rewritten whole
// and renamed into place, which would replace a device (--file /dev/null,
// run as root, replaced the system's /dev/null with a file and printed a
// token no server would know), a pipe or a socket.
func tokensTarget(file string) (string, error) {
	fi, err := os.Lstat(file)
	switch {
	case err != nil:
		return file, nil // created, or its folder is refused next
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := filepath.EvalSymlinks(file)
		if err != nil {
			return "", fmt.Errorf("--file %s is a link to a file that does not exist (%w): give the tokens file itself, or create what the link names", file, err)
		}
		if fi, err = os.Stat(target); err != nil {
			return "", fmt.Errorf("--file %s: %w", file, err)
		}
		if !fi.Mode().IsRegular() {
			return "", fmt.Errorf("--file %s links to %s, %s, not a regular file: give the tokens file (server.tokens_file), a regular file (token create rewrites it whole and renames it into place)", file, target, fileKind(fi.Mode()))
		}
		return target, nil
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("--file %s is %s, not a regular file: give the tokens file (server.tokens_file), a regular file (token create rewrites it whole and renames it into place)", file, fileKind(fi.Mode()))
	}
	return file, nil
}

// fileKind names the kind of a file that is not a regular one.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file (" + m.Type().String() + ")"
}

// checkTokensFolder refuses a --file whose folder is missing or is not a
// folder, naming the flag and what to do: token create makes the file,
// not its folder. It said only "locking the tokens file's folder: open
// /missing/dir: no such file or directory".
func checkTokensFolder(file string) error {
	dir := filepath.Dir(file)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("--file %s: its folder %s does not exist: create it first (mkdir -p %s) or give a file in an existing folder", file, dir, dir)
	case err != nil:
		return fmt.Errorf("--file %s: its folder: %w", file, err)
	case !fi.IsDir():
		return fmt.Errorf("--file %s: %s is not a folder: give a file in an existing folder", file, dir)
	}
	return nil
}
