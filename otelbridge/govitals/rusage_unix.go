//go:build unix

package govitals

import "syscall"

type rusage = syscall.Rusage

// contextSwitches returns the voluntary and involuntary context switches of
// the whole process, every thread included, from getrusage(RUSAGE_SELF).
func contextSwitches(ru *rusage) (voluntary, involuntary int64, ok bool) {
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, ru); err != nil {
		return 0, 0, false
	}
	return int64(ru.Nvcsw), int64(ru.Nivcsw), true
}
