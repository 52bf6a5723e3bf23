//go:build race

package udpio

// raceEnabled: the race detector makes sync.Pool drop objects at random.
const raceEnabled = true
