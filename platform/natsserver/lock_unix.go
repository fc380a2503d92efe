//go:build unix

package natsserver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrStoreInUse: another process runs a server on the store directory.
var ErrStoreInUse = errors.New("natsserver: store directory in use by another process")

// lockStore takes an exclusive lock on dir for the life of the process (or
// until unlock): two servers writing one JetStream store would corrupt it.
// The kernel drops the lock when the process dies, so a crash leaves none.
func lockStore(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("natsserver: store directory: %w", err)
	}
	path := filepath.Join(dir, "ballast.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("natsserver: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (pid %s)", ErrStoreInUse, dir, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("natsserver: lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}
