package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/statetest"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(helperDBEnv); path != "" { // see process_test.go
		os.Exit(runHelper(path, os.Getenv(helperModeEnv), os.Getenv(helperNameEnv)))
	}
	// Every Store's connections and their goroutines end with Close.
	goleak.VerifyTestMain(m)
}

func TestContractInMemory(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Store {
		s, err := Open(t.Context(), ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestContractFile(t *testing.T) {
	statetest.RunDurable(t, statetest.Durable{
		New: func(t *testing.T) string { return filepath.Join(t.TempDir(), "spillway.db") },
		Open: func(ctx context.Context, path string) (state.Store, error) {
			s, err := Open(ctx, path)
			if err != nil {
				return nil, err // not a typed nil in a non-nil interface
			}
			return s, nil
		},
	})
}
