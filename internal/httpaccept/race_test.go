//go:build race

package httpaccept

// raceEnabled skips allocation counts, which the race detector inflates.
const raceEnabled = true
