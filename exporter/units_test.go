package exporter

import (
	"slices"
	"testing"
)

// Instruments' UCUM units map onto Mackerel's, with the factor that turns
// a value into the Mackerel unit.
func TestMackerelUnit(t *testing.T) {
	for _, tc := range []struct {
		ucum    string
		integer bool
		want    unit
	}{
		{"s", false, unit{UnitMilliseconds, 1e3}},
		{"s", true, unit{UnitMilliseconds, 1e3}},
		{"ms", false, unit{UnitMilliseconds, 1}},
		{"us", false, unit{UnitMilliseconds, 1e-3}},
		{"μs", false, unit{UnitMilliseconds, 1e-3}},
		{"ns", true, unit{UnitMilliseconds, 1e-6}},
		{"min", false, unit{UnitSeconds, 60}},
		{"h", false, unit{UnitSeconds, 3600}},
		{"By", true, unit{UnitBytes, 1}},
		{"By", false, unit{UnitBytes, 1}},
		{"KiBy", true, unit{UnitBytes, 1 << 10}},
		{"MiBy", true, unit{UnitBytes, 1 << 20}},
		{"GiBy", true, unit{UnitBytes, 1 << 30}},
		{"kBy", true, unit{UnitBytes, 1e3}},
		{"KBy", true, unit{UnitBytes, 1e3}},
		{"MBy", true, unit{UnitBytes, 1e6}},
		{"GBy", true, unit{UnitBytes, 1e9}},
		{"By/s", false, unit{UnitBytesPerSec, 1}},
		{"bit/s", false, unit{UnitBitsPerSec, 1}},
		{"%", false, unit{UnitPercentage, 1}},
		{"%", true, unit{UnitPercentage, 1}},
		// A ratio of floats is a percentage; of integers, a count.
		{"1", false, unit{UnitPercentage, 100}},
		{"1", true, unit{UnitInteger, 1}},
		// Annotations, no unit and units Mackerel has no name for are
		// plain numbers.
		{"{request}", true, unit{UnitInteger, 1}},
		{"{request}", false, unit{UnitFloat, 1}},
		{"", true, unit{UnitInteger, 1}},
		{"", false, unit{UnitFloat, 1}},
		{"Hz", false, unit{UnitFloat, 1}},
		{"Cel", false, unit{UnitFloat, 1}},
		{"S", false, unit{UnitFloat, 1}}, // siemens, not seconds: UCUM is case-sensitive
	} {
		got := mackerelUnit(tc.ucum, tc.integer)
		if got != tc.want {
			t.Errorf("mackerelUnit(%q, integer %v) = %+v, want %+v", tc.ucum, tc.integer, got, tc.want)
		}
		if !slices.Contains(MackerelUnits, got.mackerel) {
			t.Errorf("mackerelUnit(%q) = %q, not a Mackerel unit", tc.ucum, got.mackerel)
		}
	}
}
