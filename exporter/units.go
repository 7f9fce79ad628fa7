package exporter

// The units of Mackerel's graph definitions.
const (
	UnitFloat        = "float"
	UnitInteger      = "integer"
	UnitPercentage   = "percentage"
	UnitSeconds      = "seconds"
	UnitMilliseconds = "milliseconds"
	UnitBytes        = "bytes"
	UnitBytesPerSec  = "bytes/sec"
	UnitBitsPerSec   = "bits/sec"
	UnitIOPS         = "iops"
)

// MackerelUnits are the units Mackerel accepts in a graph definition; one
// unit outside them fails the whole request.
var MackerelUnits = []string{UnitFloat, UnitInteger, UnitPercentage, UnitSeconds, UnitMilliseconds, UnitBytes, UnitBytesPerSec, UnitBitsPerSec, UnitIOPS}

// unit is how an instrument's values are served: multiplied by scale, under
// a Mackerel unit.
type unit struct {
	mackerel string
	scale    float64
}

// mackerelUnit maps an instrument's UCUM unit onto Mackerel's. Durations are
// served in milliseconds: mackerel-plugin-json prints values with %f, six
// decimals, so seconds would lose everything under a microsecond
// (go.schedule.duration's p50 of 2.56e-06 s would be posted as 0.000003),
// while milliseconds keep 1 % down to 50 ns, and Mackerel draws them with a
// unit of their own. Ratios (unit "1") of floats become percentages, which
// Mackerel draws from 0 to 100. Bytes and bits keep their magnitude.
// Annotations such as {request} and the empty unit are plain numbers:
// integer for integer instruments, float otherwise.
func mackerelUnit(ucum string, integer bool) unit {
	if u, ok := ucumUnits[ucum]; ok {
		return u
	}
	switch {
	case ucum == "1" && !integer:
		return unit{UnitPercentage, 100}
	case integer:
		return unit{UnitInteger, 1}
	}
	return unit{UnitFloat, 1}
}

// ucumUnits are the UCUM units with a Mackerel unit of their own.
var ucumUnits = map[string]unit{
	"s": {UnitMilliseconds, 1e3}, "ms": {UnitMilliseconds, 1}, "us": {UnitMilliseconds, 1e-3}, "μs": {UnitMilliseconds, 1e-3}, "ns": {UnitMilliseconds, 1e-6},
	"min": {UnitSeconds, 60}, "h": {UnitSeconds, 3600},
	"By": {UnitBytes, 1}, "KiBy": {UnitBytes, 1 << 10}, "MiBy": {UnitBytes, 1 << 20}, "GiBy": {UnitBytes, 1 << 30},
	"kBy": {UnitBytes, 1e3}, "KBy": {UnitBytes, 1e3}, "MBy": {UnitBytes, 1e6}, "GBy": {UnitBytes, 1e9},
	"By/s": {UnitBytesPerSec, 1}, "bit/s": {UnitBitsPerSec, 1},
	"%": {UnitPercentage, 1},
}
