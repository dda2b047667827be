package video

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxVideoBytes bounds the decoded size T*H*W*C of any video a reader returns
// (8 GiB). Readers also refuse frame sizes that the file's bytes cannot hold;
// this limit is the last guard against allocations that no real cine loop
// needs.
const maxVideoBytes = 8 << 30

// ReadFile reads a video from the file at path, choosing the reader by the
// file name's extension (case-insensitive):
//
//	.avi          ReadAVIFile (MJPEG or uncompressed frames)
//	.dcm, .dicom  ReadDICOMFile
//	.npy          ReadNPYFile
//	.npz          ReadNPZFile
//
// A file with any other extension (DICOM files often have none) is sniffed:
// "DICM" at byte 128 means DICOM, "RIFF....AVI " AVI, "\x93NUMPY" .npy and a
// zip signature .npz. Anything else is an error naming the file.
func ReadFile(path string) (*Video, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".avi":
		return ReadAVIFile(path)
	case ".dcm", ".dicom":
		return ReadDICOMFile(path)
	case ".npy":
		return ReadNPYFile(path)
	case ".npz":
		return ReadNPZFile(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, readErr(path, err)
	}
	head := make([]byte, 132)
	n, err := io.ReadFull(f, head)
	f.Close()
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, readErr(path, err)
	}
	head = head[:n]
	switch {
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		return ReadDICOMFile(path)
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "AVI ":
		return ReadAVIFile(path)
	case bytes.HasPrefix(head, []byte(npyMagic)):
		return ReadNPYFile(path)
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return ReadNPZFile(path)
	}
	return nil, readErr(path, errors.New("unknown video format (want .avi, .dcm, .dicom, .npy or .npz, or a file that starts like one)"))
}

// readErr wraps err as `video: read SOURCE: err`.
func readErr(source string, err error) error {
	return fmt.Errorf("video: read %s: %w", srcName(source), err)
}

// srcName names a source in errors, as Video does.
func srcName(source string) string {
	if source == "" {
		return "<video>"
	}
	return source
}

// videoSize returns t*h*w*c, or an error when a factor is not positive, c is
// not 1 or 3, or the product exceeds maxVideoBytes.
func videoSize(t, h, w, c int) (int, error) {
	if t <= 0 || h <= 0 || w <= 0 || (c != 1 && c != 3) {
		return 0, fmt.Errorf("bad video size %dx%dx%dx%d (T x H x W x C)", t, h, w, c)
	}
	n := int64(c)
	for _, f := range []int{w, h, t} {
		if int64(f) > maxVideoBytes/n {
			return 0, fmt.Errorf("video of %dx%dx%dx%d is larger than %d bytes", t, h, w, c, int64(maxVideoBytes))
		}
		n *= int64(f)
	}
	return int(n), nil
}
