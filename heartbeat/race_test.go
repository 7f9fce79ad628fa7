//go:build race

package heartbeat

// raceEnabled skips allocation counts, which the race detector inflates.
const raceEnabled = true
