package testutil

import (
	"fmt"
	"strconv"
	"testing"
)

func TestTruncated(t *testing.T) {
	f := func(exact float64, want bool) {
		t.Helper()
		printed, err := strconv.ParseFloat(fmt.Sprintf("%f", exact), 64)
		if err != nil {
			t.Fatal(err)
		}
		if got := Truncated(printed, exact); got != want {
			t.Errorf("Truncated(%v, %v) = %v, want %v", printed, exact, got, want)
		}
	}
	f(0, false)
	f(1, false)
	f(1697256, false)
	f(0.32636928000000004, false)
	f(0.00012345, false) // 0.000123: 0.4 % off
	f(1.04e-5, true)     // 0.000010: 4 % off
	f(2.56e-6, true)     // 0.000003: 17 % off
	f(4e-7, true)        // 0.000000
	f(-4e-7, true)
}
