package govitals

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The parsers below are pure functions over the bytes of /proc files so that
// they are tested and fuzzed on every platform, while only Linux feeds them.
// They never allocate on success: they run once per collection.

// procStatus is what /proc/self/status says that runtime/metrics cannot.
type procStatus struct {
	threads  int64 // Threads: every OS thread, cgo-created ones included
	rssBytes int64 // VmRSS: resident set size
	vmBytes  int64 // VmSize: virtual memory size
}

// procIO is the storage IO of /proc/self/io, summed over all threads of the
// process by the kernel.
type procIO struct {
	readBytes  int64 // read_bytes: bytes fetched from the storage layer
	writeBytes int64 // write_bytes: bytes sent to the storage layer
}

var (
	errMissingField = errors.New("missing field")
	errBadNumber    = errors.New("not a decimal number")
	errBadDirent    = errors.New("malformed directory entry")
)

// parseStatus reads Threads, VmRSS and VmSize out of /proc/self/status. All
// three must be present: a kernel thread has no VmRSS, and a Go process is
// never one, so their absence means the input is not what we think it is.
func parseStatus(b []byte) (procStatus, error) {
	const (
		haveThreads = 1 << iota
		haveRSS
		haveVM
	)
	var (
		st   procStatus
		seen int
	)
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		var err error
		switch {
		case bytes.HasPrefix(line, []byte("Threads:")):
			st.threads, err = parseCount(line[len("Threads:"):])
			seen |= haveThreads
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			st.rssBytes, err = parseKiB(line[len("VmRSS:"):])
			seen |= haveRSS
		case bytes.HasPrefix(line, []byte("VmSize:")):
			st.vmBytes, err = parseKiB(line[len("VmSize:"):])
			seen |= haveVM
		default:
			continue
		}
		if err != nil {
			return procStatus{}, fmt.Errorf("%q: %w", line, err)
		}
	}
	switch {
	case seen&haveThreads == 0:
		return procStatus{}, fmt.Errorf("field Threads: %w", errMissingField)
	case seen&haveRSS == 0:
		return procStatus{}, fmt.Errorf("field VmRSS: %w", errMissingField)
	case seen&haveVM == 0:
		return procStatus{}, fmt.Errorf("field VmSize: %w", errMissingField)
	}
	return st, nil
}

// parseIO reads read_bytes and write_bytes out of /proc/self/io. These count
// what reached the storage layer; rchar/wchar would also count pipes, sockets
// and page-cache hits, which is not disk IO.
func parseIO(b []byte) (procIO, error) {
	var (
		io                  procIO
		haveRead, haveWrite bool
	)
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		var err error
		switch {
		case bytes.HasPrefix(line, []byte("read_bytes:")):
			io.readBytes, err = parseCount(line[len("read_bytes:"):])
			haveRead = true
		case bytes.HasPrefix(line, []byte("write_bytes:")):
			io.writeBytes, err = parseCount(line[len("write_bytes:"):])
			haveWrite = true
		default:
			continue
		}
		if err != nil {
			return procIO{}, fmt.Errorf("%q: %w", line, err)
		}
	}
	if !haveRead {
		return procIO{}, fmt.Errorf("field read_bytes: %w", errMissingField)
	}
	if !haveWrite {
		return procIO{}, fmt.Errorf("field write_bytes: %w", errMissingField)
	}
	return io, nil
}

// direntHeader is the size of struct linux_dirent64 before d_name:
// d_ino (8), d_off (8), d_reclen (2), d_type (1).
const direntHeader = 19

// countDirents counts the entries other than "." and ".." in a buffer filled
// by getdents64, the way /proc/self/fd is listed without a string per file
// descriptor. The record length is read in native byte order, as the kernel
// writes it.
func countDirents(b []byte) (int, error) {
	n := 0
	for off := 0; off < len(b); {
		rest := b[off:]
		if len(rest) < direntHeader {
			return 0, fmt.Errorf("%d trailing bytes at offset %d: %w", len(rest), off, errBadDirent)
		}
		reclen := int(binary.NativeEndian.Uint16(rest[16:18]))
		if reclen <= direntHeader || reclen > len(rest) {
			return 0, fmt.Errorf("record length %d at offset %d of %d: %w", reclen, off, len(b), errBadDirent)
		}
		name := rest[direntHeader:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if len(name) == 0 {
			return 0, fmt.Errorf("empty name at offset %d: %w", off, errBadDirent)
		}
		if !isDotOrDotDot(name) {
			n++
		}
		off += reclen
	}
	return n, nil
}

func isDotOrDotDot(name []byte) bool {
	return (len(name) == 1 && name[0] == '.') || (len(name) == 2 && name[0] == '.' && name[1] == '.')
}

// nextLine splits b at the first newline.
func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// parseKiB parses a "  1234 kB" field of /proc/self/status into bytes.
func parseKiB(field []byte) (int64, error) {
	field = bytes.TrimSpace(field)
	num, ok := bytes.CutSuffix(field, []byte(" kB"))
	if !ok {
		return 0, fmt.Errorf("no kB unit: %w", errBadNumber)
	}
	kib, err := parseCount(num)
	if err != nil {
		return 0, err
	}
	if kib > math.MaxInt64/1024 {
		return 0, fmt.Errorf("%d kB overflows int64 bytes: %w", kib, errBadNumber)
	}
	return kib * 1024, nil
}

// parseCount parses a non-negative decimal surrounded by optional blanks,
// without the string conversion strconv would need.
func parseCount(field []byte) (int64, error) {
	field = bytes.TrimSpace(field)
	if len(field) == 0 {
		return 0, fmt.Errorf("empty: %w", errBadNumber)
	}
	var v int64
	for _, c := range field {
		if c < '0' || c > '9' {
			return 0, errBadNumber
		}
		d := int64(c - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("overflows int64: %w", errBadNumber)
		}
		v = v*10 + d
	}
	return v, nil
}
