//go:build race

package e2e

// raceEnabled: the tests were built with -race, and so is the binary they
// drive.
const raceEnabled = true
