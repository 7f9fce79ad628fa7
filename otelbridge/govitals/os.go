package govitals

// osReading is one collection's worth of what the operating system says about
// the process. A have* flag is false when the platform cannot tell, or could
// not this time (a /proc file missing or unreadable in a sandbox): the metric
// is then left out of that collection rather than reported as zero.
type osReading struct {
	haveStatus bool
	status     procStatus

	haveIO bool
	io     procIO

	haveFDs bool
	fds     int64

	haveCtxSwitches bool
	voluntary       int64
	involuntary     int64
}
