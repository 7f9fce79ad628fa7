//go:build !race

package httpaccept

const raceEnabled = false
