//go:build !unix

package govitals

type rusage struct{}

// contextSwitches reports nothing where getrusage(2) does not exist.
func contextSwitches(*rusage) (voluntary, involuntary int64, ok bool) {
	return 0, 0, false
}
