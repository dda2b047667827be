package video

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// This file reads .npy and .npz itself rather than with
// codeberg.org/sbinet/npyio (v0.14.0, on the module proxy), which was tried
// on crafted files and a 32x112x112x3 array:
//
//   - a version-2 header length is allocated before it is read: a 12-byte
//     file made npyio allocate 4 GiB (8.6 GB in all) and, under ulimit -v
//     8 GB, die with "fatal error: out of memory", which recover cannot
//     catch; a shape of (2^40, 1, 1) in a 192-byte file did the same. Here
//     the header must fit the file and the data the bytes left;
//   - a header without its trailing newline, or with its keys in another
//     order than NumPy writes them (still a valid dict), panics (slice
//     bounds); a negative dimension reads as an empty array;
//   - values are read one io.ReadFull call per element: 49 ms for the
//     uint8 array against ReadNPY's 0.7 ms, and 48 ms for float32 against
//     18 ms including the conversion to uint8 (from memory, on a loaded
//     2-core machine).
//
// FuzzReadNPY keeps this reader's refusals honest.

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// maxNPYHeader bounds the header of a .npy file (NumPy itself refuses
// headers over 10000 bytes unless told otherwise).
const maxNPYHeader = 1 << 16

// ReadNPYFile reads the NumPy .npy file at path; see ReadNPY.
func ReadNPYFile(path string) (*Video, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, readErr(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, readErr(path, err)
	}
	avail := int64(-1)
	if st.Mode().IsRegular() {
		avail = st.Size()
	}
	v, err := readNPY(f, avail)
	if err != nil {
		return nil, readErr(path, err)
	}
	v.Source = path
	return v, nil
}

// ReadNPY reads a video stored as a NumPy array in .npy format (versions 1,
// 2 and 3) from r. source names the input in errors and becomes the video's
// Source.
//
// The array must be in C order (fortran_order False) with shape (T, H, W)
// (C = 1) or (T, H, W, C) with C = 1 or 3, and dtype uint8 ('|u1') or
// little-endian float32 ('<f4'). Float arrays are converted as follows: when
// every value lies in [0, 1] the values are intensities in [0, 1] and are
// multiplied by 255; otherwise every value must lie in [0, 255]. Values are
// rounded to the nearest integer; NaN, infinities and values outside both
// ranges are errors. (So a float array in 0..255 whose values all happen to be
// at most 1 is read as a [0, 1] array.) FPS is 0: .npy files do not record it.
//
// ReadNPY reads exactly the array's bytes from r. When r has a Len method
// (bytes.Reader, strings.Reader) an array larger than what is left is refused
// before any allocation; otherwise memory grows with the bytes actually read.
func ReadNPY(r io.Reader, source string) (*Video, error) {
	avail := int64(-1)
	if l, ok := r.(interface{ Len() int }); ok {
		avail = int64(l.Len())
	}
	v, err := readNPY(r, avail)
	if err != nil {
		return nil, readErr(source, err)
	}
	v.Source = source
	return v, nil
}

// ReadNPZFile reads the NumPy .npz file at path; see ReadNPZ.
func ReadNPZFile(path string) (*Video, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, readErr(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, readErr(path, err)
	}
	return ReadNPZ(f, st.Size(), path)
}

// ReadNPZ reads a video from a NumPy .npz archive (a zip of .npy files, as
// numpy.savez and numpy.savez_compressed write) of size bytes read from r.
// The array taken is the one named "video" if there is one, else "arr_0"
// (the name numpy.savez gives its first positional array), else the only
// array in the archive; an archive with several arrays and neither name is
// an error listing them. The array is read as ReadNPY reads it.
func ReadNPZ(r io.ReaderAt, size int64, source string) (*Video, error) {
	v, err := readNPZ(r, size)
	if err != nil {
		return nil, readErr(source, err)
	}
	v.Source = source
	return v, nil
}

func readNPZ(r io.ReaderAt, size int64) (*Video, error) {
	z, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("npz: %w", err)
	}
	arrays := map[string]*zip.File{}
	var names []string
	for _, f := range z.File {
		if name, ok := strings.CutSuffix(f.Name, ".npy"); ok && !f.FileInfo().IsDir() {
			if _, dup := arrays[name]; !dup {
				names = append(names, name)
			}
			arrays[name] = f
		}
	}
	var f *zip.File
	switch {
	case arrays["video"] != nil:
		f = arrays["video"]
	case arrays["arr_0"] != nil:
		f = arrays["arr_0"]
	case len(names) == 1:
		f = arrays[names[0]]
	case len(names) == 0:
		return nil, errors.New("npz: no .npy arrays in the archive")
	default:
		sort.Strings(names)
		if len(names) > 10 {
			names = append(names[:10], "...")
		}
		return nil, fmt.Errorf("npz: %d arrays (%s) and none named video or arr_0", len(arrays), strings.Join(names, ", "))
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer rc.Close()
	// The archive's stated size can lie; the zip reader checks it at the end.
	v, err := readNPY(rc, -1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return v, nil
}

// readNPY reads a .npy stream; avail is the number of bytes r can still give,
// or -1 when unknown.
func readNPY(r io.Reader, avail int64) (*Video, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return nil, fmt.Errorf("npy: header: %w", noEOF(err))
	}
	if string(pre[:6]) != npyMagic {
		return nil, errors.New(`npy: not a .npy file (no "\x93NUMPY" magic)`)
	}
	major := pre[6]
	var hlen, pos int64
	switch major {
	case 1:
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return nil, fmt.Errorf("npy: header: %w", noEOF(err))
		}
		hlen, pos = int64(binary.LittleEndian.Uint16(pre[8:10])), 10
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: header: %w", noEOF(err))
		}
		hlen, pos = int64(binary.LittleEndian.Uint32(b[:])), 12
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d.%d", major, pre[7])
	}
	if hlen > maxNPYHeader || (avail >= 0 && hlen > avail-pos) {
		return nil, fmt.Errorf("npy: header of %d bytes is too long", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("npy: header: %w", noEOF(err))
	}
	pos += hlen
	h, err := parseNPYHeader(string(hb))
	if err != nil {
		return nil, fmt.Errorf("npy: header %q: %w", strings.TrimSpace(string(hb)), err)
	}
	if h.fortran {
		return nil, errors.New("npy: fortran_order arrays are not supported; save the array in C order")
	}
	var item int64
	switch h.descr {
	case "|u1", "<u1", "u1", "=u1", "B", "uint8":
		item = 1
	case "<f4", "float32":
		item = 4
	default:
		return nil, fmt.Errorf("npy: dtype %q is not supported (want uint8 '|u1' or little-endian float32 '<f4')", h.descr)
	}
	shape := h.shape
	if len(shape) == 3 {
		shape = append(shape, 1)
	}
	if len(shape) != 4 || (shape[3] != 1 && shape[3] != 3) {
		return nil, fmt.Errorf("npy: shape %v is not (T, H, W) or (T, H, W, C) with C = 1 or 3", h.shape)
	}
	n, err := videoSize(shape[0], shape[1], shape[2], shape[3])
	if err != nil {
		return nil, fmt.Errorf("npy: shape %v: %w", h.shape, err)
	}
	need := int64(n) * item
	if avail >= 0 && need > avail-pos {
		return nil, fmt.Errorf("npy: truncated: shape %v of %s needs %d bytes, %d are left", h.shape, h.descr, need, max(avail-pos, 0))
	}
	data, err := readN(r, need, avail >= 0)
	if err != nil {
		return nil, fmt.Errorf("npy: data: %w", err)
	}
	v := &Video{T: shape[0], H: shape[1], W: shape[2], C: shape[3]}
	if item == 1 {
		v.Frames = data
		return v, nil
	}
	if v.Frames, err = floatsToUint8(data); err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	return v, nil
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF: a stream that ends inside
// a header is truncated.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readN reads exactly n bytes. When the size is trusted the buffer is
// allocated at once; otherwise it grows with the bytes that arrive, so that
// a header cannot make us allocate what the stream does not hold.
func readN(r io.Reader, n int64, trusted bool) ([]byte, error) {
	if trusted {
		b := make([]byte, n)
		k, err := io.ReadFull(r, b)
		if err != nil {
			return nil, fmt.Errorf("truncated: %d of %d bytes: %w", k, n, noEOF(err))
		}
		return b, nil
	}
	const chunk = 1 << 20
	b := make([]byte, 0, min(n, chunk))
	for int64(len(b)) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(n, 2*int64(cap(b))))
			copy(nb, b)
			b = nb
		}
		k, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err != nil && int64(len(b)) < n {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("truncated: %d of %d bytes", len(b), n)
			}
			return nil, err
		}
	}
	return b, nil
}

// floatsToUint8 converts little-endian float32 values by the rule of ReadNPY.
func floatsToUint8(data []byte) ([]uint8, error) {
	n := len(data) / 4
	unit := true // every value in [0, 1]
	for i := range n {
		f := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		if !(f >= 0 && f <= 255) { // also NaN
			return nil, fmt.Errorf("float32 value %g at index %d is outside [0, 255]", f, i)
		}
		if f > 1 {
			unit = false
		}
	}
	scale := float32(1)
	if unit {
		scale = 255
	}
	out := make([]uint8, n)
	for i := range out {
		f := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		out[i] = uint8(math.Round(float64(f * scale)))
	}
	return out, nil
}

// npyHeader holds the fields of a .npy header dictionary.
type npyHeader struct {
	descr   string
	fortran bool
	shape   []int
}

// parseNPYHeader parses the Python dict literal of a .npy header, such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (10, 112, 112), }.
func parseNPYHeader(s string) (npyHeader, error) {
	p := &pyLit{s: s}
	var h npyHeader
	seen := map[string]bool{}
	if !p.eat('{') {
		return h, errors.New("want a dict")
	}
	for {
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if !p.eat(':') {
			return h, fmt.Errorf("want ':' after key %q", key)
		}
		switch key {
		case "descr":
			if h.descr, err = p.str(); err != nil {
				return h, fmt.Errorf("descr: %w", err)
			}
		case "fortran_order":
			if h.fortran, err = p.boolean(); err != nil {
				return h, fmt.Errorf("fortran_order: %w", err)
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, fmt.Errorf("shape: %w", err)
			}
		default:
			return h, fmt.Errorf("unexpected key %q", key)
		}
		seen[key] = true
		if !p.eat(',') {
			if !p.eat('}') {
				return h, fmt.Errorf("want ',' or '}' after %q", key)
			}
			break
		}
	}
	if p.skip(); p.i != len(p.s) {
		return h, errors.New("text after the dict")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("no %q key", k)
		}
	}
	return h, nil
}

// pyLit scans the few Python literals a .npy header uses.
type pyLit struct {
	s string
	i int
}

func (p *pyLit) skip() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyLit) eat(c byte) bool {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyLit) str() (string, error) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", errors.New("want a string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.IndexByte(v, '\\') >= 0 {
		return "", errors.New("escapes in strings are not supported")
	}
	p.i += end + 2
	return v, nil
}

func (p *pyLit) boolean() (bool, error) {
	p.skip()
	for _, w := range []string{"True", "False"} {
		if strings.HasPrefix(p.s[p.i:], w) {
			p.i += len(w)
			return w == "True", nil
		}
	}
	return false, errors.New("want True or False")
}

func (p *pyLit) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, errors.New("want a tuple")
	}
	var out []int
	for {
		if p.eat(')') {
			return out, nil
		}
		p.skip()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		n, err := strconv.Atoi(p.s[p.i:j])
		if err != nil || j-p.i > 12 {
			return nil, errors.New("want a non-negative integer of at most 12 digits")
		}
		p.i = j
		if p.i < len(p.s) && p.s[p.i] == 'L' { // Python 2 long
			p.i++
		}
		out = append(out, n)
		if len(out) > 32 {
			return nil, errors.New("too many dimensions")
		}
		if !p.eat(',') {
			if !p.eat(')') {
				return nil, errors.New("want ',' or ')'")
			}
			return out, nil
		}
	}
}
