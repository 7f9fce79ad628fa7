package govitals

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseStatus(t *testing.T) {
	f := func(name string, in []byte, want procStatus, wantErr error) {
		t.Helper()
		got, err := parseStatus(in)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Errorf("%s: err = %v, want %v", name, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if got != want {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
	f("status.txt", readFixture(t, "status.txt"),
		procStatus{threads: 5, rssBytes: 2128 * 1024, vmBytes: 1227032 * 1024}, nil)
	f("kernel thread has no VmRSS", readFixture(t, "status_kthread.txt"), procStatus{}, errMissingField)
	f("unit other than kB", readFixture(t, "status_bad_unit.txt"), procStatus{}, errBadNumber)
	f("kB overflowing int64", readFixture(t, "status_overflow.txt"), procStatus{}, errBadNumber)
	f("negative thread count", readFixture(t, "status_negative_threads.txt"), procStatus{}, errBadNumber)
	f("truncated before Threads", readFixture(t, "status_truncated.txt"), procStatus{}, errMissingField)
	f("empty", nil, procStatus{}, errMissingField)
	f("no trailing newline", []byte("Threads:\t3\nVmSize:\t 8 kB\nVmRSS:\t4 kB"),
		procStatus{threads: 3, rssBytes: 4096, vmBytes: 8192}, nil)
	f("CRLF and order do not matter", []byte("VmRSS: 1 kB\r\nThreads: 2\r\nVmSize: 3 kB\r\n"),
		procStatus{threads: 2, rssBytes: 1024, vmBytes: 3072}, nil)
	f("largest kB that fits", []byte("Threads:1\nVmRSS:9007199254740991 kB\nVmSize:1 kB\n"),
		procStatus{threads: 1, rssBytes: 9007199254740991 * 1024, vmBytes: 1024}, nil)
	f("one past it", []byte("Threads:1\nVmRSS:9007199254740992 kB\nVmSize:1 kB\n"), procStatus{}, errBadNumber)
	f("empty value", []byte("Threads:\nVmRSS:1 kB\nVmSize:1 kB\n"), procStatus{}, errBadNumber)
	f("kB without number", []byte("Threads:1\nVmRSS: kB\nVmSize:1 kB\n"), procStatus{}, errBadNumber)
	f("hex", []byte("Threads:0x10\nVmRSS:1 kB\nVmSize:1 kB\n"), procStatus{}, errBadNumber)
	f("NUL bytes", []byte("Threads:\x00\nVmRSS:1 kB\nVmSize:1 kB\n"), procStatus{}, errBadNumber)
}

func TestParseIO(t *testing.T) {
	f := func(name string, in []byte, want procIO, wantErr error) {
		t.Helper()
		got, err := parseIO(in)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Errorf("%s: err = %v, want %v", name, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if got != want {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}
	f("io.txt", readFixture(t, "io.txt"), procIO{readBytes: 4096, writeBytes: 8192}, nil)
	f("no write_bytes", readFixture(t, "io_no_write_bytes.txt"), procIO{}, errMissingField)
	f("cancelled_write_bytes is not write_bytes", []byte("read_bytes: 1\ncancelled_write_bytes: 2\n"), procIO{}, errMissingField)
	f("empty", []byte{}, procIO{}, errMissingField)
	f("negative", []byte("read_bytes: -1\nwrite_bytes: 0\n"), procIO{}, errBadNumber)
	f("overflow", []byte("read_bytes: 9223372036854775808\nwrite_bytes: 0\n"), procIO{}, errBadNumber)
	f("max int64", []byte("read_bytes: 9223372036854775807\nwrite_bytes: 0\n"),
		procIO{readBytes: 9223372036854775807}, nil)
}

// nativeLittleEndian is whether the fixture, dumped on amd64, is in this
// machine's byte order.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func TestCountDirents(t *testing.T) {
	if !nativeLittleEndian {
		t.Skip("fd_dirents.bin was recorded on a little-endian machine")
	}
	f := func(name string, in []byte, want int, wantErr error) {
		t.Helper()
		got, err := countDirents(in)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Errorf("%s: err = %v, want %v", name, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if got != want {
			t.Errorf("%s: got %d, want %d", name, got, want)
		}
	}
	valid := readFixture(t, "fd_dirents.bin")
	// ".", "..", then 0-7, 10 and 251.
	f("fd_dirents.bin", valid, 10, nil)
	f("truncated", readFixture(t, "fd_dirents_truncated.bin"), 0, errBadDirent)
	f("empty buffer", nil, 0, nil)
	f("header only", valid[:direntHeader], 0, errBadDirent)

	zeroLen := append([]byte(nil), valid...)
	binary.NativeEndian.PutUint16(zeroLen[16:], 0)
	f("zero record length would loop forever", zeroLen, 0, errBadDirent)

	tooLong := append([]byte(nil), valid...)
	binary.NativeEndian.PutUint16(tooLong[16:], uint16(len(valid)+1))
	f("record longer than the buffer", tooLong, 0, errBadDirent)

	f("empty name", dirent(""), 0, errBadDirent)
	f("dot names", append(dirent("."), dirent("..")...), 0, nil)
	f("dot-prefixed names count", append(dirent(".a"), dirent("...")...), 2, nil)
	f("name without NUL", direntNoNUL("42"), 1, nil)
}

// dirent encodes one linux_dirent64 record, padded to 8 bytes as the kernel does.
func dirent(name string) []byte {
	reclen := (direntHeader + len(name) + 1 + 7) &^ 7
	b := make([]byte, reclen)
	binary.NativeEndian.PutUint16(b[16:], uint16(reclen))
	copy(b[direntHeader:], name)
	return b
}

func direntNoNUL(name string) []byte {
	reclen := direntHeader + len(name)
	b := make([]byte, reclen)
	binary.NativeEndian.PutUint16(b[16:], uint16(reclen))
	copy(b[direntHeader:], name)
	return b
}

func FuzzParseStatus(f *testing.F) {
	for _, name := range []string{"status.txt", "status_kthread.txt", "status_bad_unit.txt", "status_overflow.txt", "status_negative_threads.txt", "status_truncated.txt"} {
		f.Add(readFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStatus(b)
		if err != nil {
			if st != (procStatus{}) {
				t.Fatalf("error %v with non-zero result %+v", err, st)
			}
			return
		}
		if st.threads < 0 || st.rssBytes < 0 || st.vmBytes < 0 || st.rssBytes%1024 != 0 || st.vmBytes%1024 != 0 {
			t.Fatalf("implausible %+v from %q", st, b)
		}
	})
}

func FuzzParseIO(f *testing.F) {
	for _, name := range []string{"io.txt", "io_no_write_bytes.txt"} {
		f.Add(readFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		io, err := parseIO(b)
		if err != nil {
			if io != (procIO{}) {
				t.Fatalf("error %v with non-zero result %+v", err, io)
			}
			return
		}
		if io.readBytes < 0 || io.writeBytes < 0 {
			t.Fatalf("negative %+v from %q", io, b)
		}
	})
}

func FuzzCountDirents(f *testing.F) {
	f.Add(readFixture(f, "fd_dirents.bin"))
	f.Add(readFixture(f, "fd_dirents_truncated.bin"))
	f.Add(dirent("."))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := countDirents(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with count %d", err, n)
			}
			return
		}
		// Every counted record takes more than a header.
		if n < 0 || n > len(b)/(direntHeader+1) {
			t.Fatalf("count %d from %d bytes", n, len(b))
		}
	})
}
