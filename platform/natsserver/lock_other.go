//go:build !unix

package natsserver

import "errors"

// ErrStoreInUse: another process runs a server on the store directory.
var ErrStoreInUse = errors.New("natsserver: store directory in use by another process")

// lockStore is a no-op where flock is not available.
func lockStore(string) (func(), error) { return func() {}, nil }
