//go:build linux

package govitals

import (
	"errors"
	"fmt"
	"syscall"
)

const (
	procStatusPath = "/proc/self/status"
	procIOPath     = "/proc/self/io"
	procFDPath     = "/proc/self/fd"
)

// osReader reads /proc/self and getrusage(2) into buffers it keeps, so that a
// collection costs a handful of syscalls and no garbage beyond the path
// conversions the syscall package makes. It is not safe for concurrent use:
// the callback holds a lock around it.
type osReader struct {
	file []byte // contents of the /proc file being parsed
	dir  []byte // getdents64 records of /proc/self/fd
	ru   syscall.Rusage
}

func newOSReader() *osReader {
	return &osReader{
		file: make([]byte, 4096), // /proc/self/status is about 1.5 KiB
		dir:  make([]byte, 8192),
	}
}

// read fills out. A file that cannot be opened or read is skipped without an
// error: /proc may be absent or masked in a sandbox, and that is a property of
// the deployment, not a fault to report every minute. Content that does not
// parse is returned as an error, since it means the kernel speaks a format
// this package does not know.
func (r *osReader) read(out *osReading) error {
	*out = osReading{}
	var errs []error

	if b, err := r.readFile(procStatusPath); err == nil {
		st, err := parseStatus(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("govitals: %s: %w", procStatusPath, err))
		} else {
			out.status, out.haveStatus = st, true
		}
	}

	if b, err := r.readFile(procIOPath); err == nil {
		io, err := parseIO(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("govitals: %s: %w", procIOPath, err))
		} else {
			out.io, out.haveIO = io, true
		}
	}

	if n, err := r.countFDs(); err == nil {
		out.fds, out.haveFDs = n, true
	} else if errors.Is(err, errBadDirent) {
		errs = append(errs, fmt.Errorf("govitals: %s: %w", procFDPath, err))
	}

	// /proc/self/status also has voluntary_ctxt_switches, but only for the
	// main thread; getrusage sums every thread, dead ones included.
	out.voluntary, out.involuntary, out.haveCtxSwitches = contextSwitches(&r.ru)

	return errors.Join(errs...)
}

// readFile reads the whole of a /proc file into r.file, growing it if the
// kernel ever writes more than it holds.
func (r *osReader) readFile(path string) ([]byte, error) {
	fd, err := open(path, syscall.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	n := 0
	for {
		if n == len(r.file) {
			r.file = append(r.file, make([]byte, len(r.file))...)
		}
		m, err := syscall.Read(fd, r.file[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			return r.file[:n], nil
		}
		n += m
	}
}

// countFDs counts the open file descriptors by listing /proc/self/fd with
// getdents64, which costs no allocation per descriptor, unlike os.ReadDir.
// The descriptor opened for the listing is not counted.
func (r *osReader) countFDs() (int64, error) {
	fd, err := open(procFDPath, syscall.O_RDONLY|syscall.O_DIRECTORY)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	total := 0
	for {
		n, err := syscall.ReadDirent(fd, r.dir)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n <= 0 {
			break
		}
		c, err := countDirents(r.dir[:n])
		if err != nil {
			return 0, err
		}
		total += c
	}
	if total > 0 {
		total-- // our own descriptor for the listing
	}
	return int64(total), nil
}

func open(path string, mode int) (int, error) {
	for {
		fd, err := syscall.Open(path, mode|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}
