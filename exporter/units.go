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
	switch ucum {
	case "s":
		return unit{UnitMilliseconds, 1e3}
	case "ms":
		return unit{UnitMilliseconds, 1}
	case "us", "μs":
		return unit{UnitMilliseconds, 1e-3}
	case "ns":
		return unit{UnitMilliseconds, 1e-6}
	case "min":
		return unit{UnitSeconds, 60}
	case "h":
		return unit{UnitSeconds, 3600}
	case "By":
		return unit{UnitBytes, 1}
	case "KiBy":
		return unit{UnitBytes, 1 << 10}
	case "MiBy":
		return unit{UnitBytes, 1 << 20}
	case "GiBy":
		return unit{UnitBytes, 1 << 30}
	case "kBy", "KBy":
		return unit{UnitBytes, 1e3}
	case "MBy":
		return unit{UnitBytes, 1e6}
	case "GBy":
		return unit{UnitBytes, 1e9}
	case "By/s":
		return unit{UnitBytesPerSec, 1}
	case "bit/s":
		return unit{UnitBitsPerSec, 1}
	case "%":
		return unit{UnitPercentage, 1}
	case "1":
		if !integer {
			return unit{UnitPercentage, 100}
		}
	}
	if integer {
		return unit{UnitInteger, 1}
	}
	return unit{UnitFloat, 1}
}
