//go:build !linux

package govitals

// osReader knows no /proc outside Linux; it still asks getrusage(2) for
// context switches where the platform has it.
type osReader struct {
	ru rusage
}

func newOSReader() *osReader { return &osReader{} }

func (r *osReader) read(out *osReading) error {
	*out = osReading{}
	out.voluntary, out.involuntary, out.haveCtxSwitches = contextSwitches(&r.ru)
	return nil
}
