package e2e

// The tests drive a binary that TestMain builds, which go test cannot see:
// importing what the binary is made of makes a change to any of it run the
// tests again instead of reusing a cached pass.
import (
	_ "ballast.dev/ballast/internal/cli"
	_ "ballast.dev/ballast/internal/server"
)
