package video

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// DICOM transfer syntaxes ReadDICOM decodes.
const (
	tsImplicitLE   = "1.2.840.10008.1.2"
	tsExplicitLE   = "1.2.840.10008.1.2.1"
	tsJPEGBaseline = "1.2.840.10008.1.2.4.50"
)

// ReadDICOMFile reads the DICOM file at path; see ReadDICOM.
func ReadDICOMFile(path string) (*Video, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, readErr(path, err)
	}
	return readDICOMBytes(data, path)
}

// ReadDICOM reads a DICOM Part 10 file (a cine loop, usually multi-frame)
// from r, parsed with github.com/suyashkumar/dicom. source names the input in
// errors and becomes the video's Source.
//
// Transfer syntaxes: implicit and explicit VR little endian (native pixels)
// and JPEG Baseline (1.2.840.10008.1.2.4.50: encapsulated 8-bit JPEG frames,
// decoded with image/jpeg). Any other is an error naming its UID and name.
// Pixels must have 8 bits allocated and be unsigned. Photometric
// interpretations:
//   - MONOCHROME2, and MONOCHROME1 (inverted): C = 1;
//   - RGB and YBR_FULL: C = 3, native pixels interleaved (planar
//     configuration 0) or one plane per colour (1);
//   - YBR_FULL_422: C = 3, native pixels as Y0 Y1 Cb Cr for each pair of
//     pixels (planar configuration 0, even width).
//
// YBR is converted to RGB with the JPEG (BT.601 full-range) equations.
// Colour JPEG frames are converted to RGB as their own markers say (as
// libjpeg does), whatever the photometric interpretation claims.
//
// FPS is 1000 / FrameTime (0018,1063, in ms), else CineRate (0018,0040),
// else RecommendedDisplayFrameRate (0008,2144), else 0.
//
// The whole file is read into memory. Its structure is checked first (every
// element length against the bytes that hold it, nesting depth), so that a
// damaged file is an error rather than a huge allocation; that check also
// locates the pixel data, which is decoded straight from the file's bytes,
// while the dicom package parses the other attributes.
func ReadDICOM(r io.Reader, source string) (*Video, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, readErr(source, err)
	}
	return readDICOMBytes(data, source)
}

func readDICOMBytes(data []byte, source string) (*Video, error) {
	v, err := readDICOM(data)
	if err != nil {
		return nil, readErr(source, err)
	}
	v.Source = source
	return v, nil
}

func readDICOM(data []byte) (*Video, error) {
	px, err := checkDICOM(data)
	if err != nil {
		return nil, err
	}
	ds, err := parseDICOM(data)
	if err != nil {
		return nil, fmt.Errorf("dicom: %w", err)
	}
	return dicomVideo(&ds, px)
}

// parseDICOM runs the dicom parser on everything but the pixel data (which
// checkDICOM has located), turning its panics on malformed values into
// errors.
func parseDICOM(data []byte) (ds dicom.Dataset, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed data set: %v", r)
		}
	}()
	return dicom.Parse(bytes.NewReader(data), int64(len(data)), nil,
		dicom.SkipPixelData(), dicom.AllowUnknownSpecificCharacterSet())
}

// tsName describes a transfer syntax UID for errors.
func tsName(ts string) string {
	if info, err := uid.Lookup(ts); err == nil {
		return fmt.Sprintf("%s (%s)", ts, info.Name)
	}
	if strings.Trim(ts, "0123456789.") != "" {
		ts = strconv.Quote(ts)
	}
	return ts + " (unknown UID)"
}

// tagName names a tag for errors: "Rows (0028,0010)".
func tagName(t tag.Tag) string {
	if info, err := tag.Find(t); err == nil {
		return fmt.Sprintf("%s (%04X,%04X)", info.Name, t.Group, t.Element)
	}
	return fmt.Sprintf("(%04X,%04X)", t.Group, t.Element)
}

// dcmPixels locates the top-level pixel data (7FE0,0010) in the file.
type dcmPixels struct {
	ts           string
	found        bool
	encapsulated bool
	native       []byte   // native pixel data, a slice of the file
	fragments    [][]byte // encapsulated fragments after the offset table
}

// dicomVideo decodes the pixel data of a parsed data set.
func dicomVideo(ds *dicom.Dataset, px dcmPixels) (*Video, error) {
	rows, err := dcmInt(ds, tag.Rows, -1)
	if err != nil {
		return nil, err
	}
	cols, err := dcmInt(ds, tag.Columns, -1)
	if err != nil {
		return nil, err
	}
	spp, err := dcmInt(ds, tag.SamplesPerPixel, -1)
	if err != nil {
		return nil, err
	}
	bits, err := dcmInt(ds, tag.BitsAllocated, -1)
	if err != nil {
		return nil, err
	}
	signed, err := dcmInt(ds, tag.PixelRepresentation, 0)
	if err != nil {
		return nil, err
	}
	planar, err := dcmInt(ds, tag.PlanarConfiguration, 0)
	if err != nil {
		return nil, err
	}
	nframes, err := dcmInt(ds, tag.NumberOfFrames, 1)
	if err != nil {
		return nil, err
	}
	pi, err := dcmString(ds, tag.PhotometricInterpretation)
	if err != nil {
		return nil, err
	}
	if bits != 8 {
		return nil, fmt.Errorf("%d bits allocated per sample; only 8 is supported", bits)
	}
	if signed != 0 {
		return nil, errors.New("signed pixel data (PixelRepresentation 1) is not supported")
	}
	if planar != 0 && planar != 1 {
		return nil, fmt.Errorf("planar configuration %d, want 0 or 1", planar)
	}
	if rows <= 0 || cols <= 0 || nframes <= 0 {
		return nil, fmt.Errorf("bad size: %d frames of %d rows x %d columns", nframes, rows, cols)
	}
	c := 3
	switch {
	case (pi == "MONOCHROME2" || pi == "MONOCHROME1") && spp == 1:
		c = 1
	case (pi == "RGB" || pi == "YBR_FULL" || pi == "YBR_FULL_422") && spp == 3:
	default:
		return nil, fmt.Errorf("photometric interpretation %q with %d samples per pixel is not supported", pi, spp)
	}

	if !px.found {
		return nil, errors.New("no pixel data (7FE0,0010)")
	}
	jpegTS := px.ts == tsJPEGBaseline
	var v *Video
	switch {
	case jpegTS && !px.encapsulated:
		return nil, errors.New("the transfer syntax is JPEG Baseline but the pixel data is not encapsulated")
	case !jpegTS && px.encapsulated:
		return nil, errors.New("the transfer syntax is native but the pixel data is encapsulated")
	case jpegTS:
		v, err = dicomJPEG(px.fragments, nframes, rows, cols, c)
	default:
		v, err = dicomNative(px.native, nframes, rows, cols, c, pi, planar)
	}
	if err != nil {
		return nil, err
	}
	if pi == "MONOCHROME1" {
		for i, p := range v.Frames {
			v.Frames[i] = 255 - p
		}
	}
	v.FPS, err = dicomFPS(ds)
	return v, err
}

// dicomNative decodes native (uncompressed) 8-bit pixel data.
func dicomNative(raw []byte, t, h, w, c int, pi string, planar int) (*Video, error) {
	n, err := videoSize(t, h, w, c)
	if err != nil {
		return nil, err
	}
	need := int64(n)
	if pi == "YBR_FULL_422" {
		if planar != 0 {
			return nil, errors.New("YBR_FULL_422 needs planar configuration 0")
		}
		if w%2 != 0 {
			return nil, fmt.Errorf("YBR_FULL_422 needs an even number of columns, have %d", w)
		}
		need = int64(t) * int64(h) * int64(w) * 2
	}
	if got := int64(len(raw)); got != need && !(got == need+1 && got%2 == 0) {
		return nil, fmt.Errorf("pixel data has %d bytes, want %d for %d frames of %dx%d %s", got, need, t, w, h, pi)
	}
	v := &Video{Frames: make([]uint8, n), T: t, H: h, W: w, C: c}
	in := int(need) / t
	for i := range t {
		src, dst := raw[i*in:(i+1)*in], v.Frame(i)
		switch {
		case c == 1 || (pi == "RGB" && planar == 0):
			copy(dst, src)
		case pi == "RGB":
			np := h * w
			for p := range np {
				dst[3*p], dst[3*p+1], dst[3*p+2] = src[p], src[np+p], src[2*np+p]
			}
		case pi == "YBR_FULL" && planar == 0:
			for p := 0; p < len(dst); p += 3 {
				dst[p], dst[p+1], dst[p+2] = ybrToRGB(src[p], src[p+1], src[p+2])
			}
		case pi == "YBR_FULL":
			np := h * w
			for p := range np {
				dst[3*p], dst[3*p+1], dst[3*p+2] = ybrToRGB(src[p], src[np+p], src[2*np+p])
			}
		default: // YBR_FULL_422: Y0 Y1 Cb Cr for each pair of pixels
			for p := 0; p < h*w; p += 2 {
				q := 2 * p
				y0, y1, cb, cr := src[q], src[q+1], src[q+2], src[q+3]
				dst[3*p], dst[3*p+1], dst[3*p+2] = ybrToRGB(y0, cb, cr)
				dst[3*p+3], dst[3*p+4], dst[3*p+5] = ybrToRGB(y1, cb, cr)
			}
		}
	}
	return v, nil
}

// ybrToRGB converts full-range YCbCr (DICOM YBR_FULL, as JPEG) to RGB.
func ybrToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := float64(y)
	b, r := float64(cb)-128, float64(cr)-128
	return clamp8(yy + 1.402*r), clamp8(yy - 0.344136*b - 0.714136*r), clamp8(yy + 1.772*b)
}

func clamp8(x float64) uint8 {
	switch {
	case x <= 0:
		return 0
	case x >= 255:
		return 255
	}
	return uint8(x + 0.5)
}

// dicomJPEG decodes encapsulated JPEG Baseline frames.
func dicomJPEG(frags [][]byte, t, h, w, c int) (*Video, error) {
	// One fragment per frame is usual; otherwise a frame is the fragment
	// that starts with a JPEG SOI marker and those that follow it.
	frames := frags
	if len(frags) != t {
		frames = nil
		for _, f := range frags {
			soi := len(f) >= 2 && f[0] == 0xFF && f[1] == 0xD8
			if len(frames) == 0 || (t > 1 && soi) {
				frames = append(frames, bytes.Clone(f))
			} else {
				frames[len(frames)-1] = append(frames[len(frames)-1], f...)
			}
		}
	}
	if len(frames) != t {
		return nil, fmt.Errorf("%d JPEG frames in the pixel data, NumberOfFrames says %d", len(frames), t)
	}
	for i, f := range frames {
		fi, err := jpegInfo(bytes.NewReader(f), int64(len(f)))
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		if fi.w != w || fi.h != h {
			return nil, fmt.Errorf("frame %d: JPEG is %dx%d, the data set says %dx%d", i, fi.w, fi.h, w, h)
		}
		if c == 1 && !fi.grey {
			return nil, fmt.Errorf("frame %d: colour JPEG in a monochrome data set", i)
		}
	}
	n, err := videoSize(t, h, w, c)
	if err != nil {
		return nil, err
	}
	v := &Video{Frames: make([]uint8, n), T: t, H: h, W: w, C: c}
	for i, f := range frames {
		if err := decodeJPEG(f, v.Frame(i), w, h, c); err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
	}
	return v, nil
}

// dicomFPS reads the frame rate attributes.
func dicomFPS(ds *dicom.Dataset) (float64, error) {
	for _, t := range []tag.Tag{tag.FrameTime, tag.CineRate, tag.RecommendedDisplayFrameRate} {
		f, ok, err := dcmFloat(ds, t)
		if err != nil {
			return 0, err
		}
		if !ok || f <= 0 {
			continue
		}
		if t == tag.FrameTime {
			return 1000 / f, nil
		}
		return f, nil
	}
	return 0, nil
}

// dcmValue returns the first value of a top-level element as a string or an
// int, or ok false when the element is absent or empty.
func dcmValue(ds *dicom.Dataset, t tag.Tag) (s string, i int, isInt, ok bool, err error) {
	e, err := ds.FindElementByTag(t)
	if err != nil {
		return "", 0, false, false, nil
	}
	switch v := e.Value.GetValue().(type) {
	case []int:
		if len(v) == 0 {
			return "", 0, false, false, nil
		}
		return "", v[0], true, true, nil
	case []string:
		if len(v) == 0 || strings.TrimSpace(v[0]) == "" {
			return "", 0, false, false, nil
		}
		return strings.Trim(v[0], " \x00"), 0, false, true, nil
	case []float64:
		if len(v) == 0 {
			return "", 0, false, false, nil
		}
		return strconv.FormatFloat(v[0], 'g', -1, 64), 0, false, true, nil
	}
	return "", 0, false, false, fmt.Errorf("%s has a value of unexpected type", tagName(t))
}

// dcmInt reads an integer attribute (US, IS, ...); def < 0 means required.
func dcmInt(ds *dicom.Dataset, t tag.Tag, def int) (int, error) {
	s, i, isInt, ok, err := dcmValue(ds, t)
	switch {
	case err != nil:
		return 0, err
	case !ok && def < 0:
		return 0, fmt.Errorf("no %s", tagName(t))
	case !ok:
		return def, nil
	case isInt:
		return i, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<31-1 {
		return 0, fmt.Errorf("%s: bad integer %q", tagName(t), s)
	}
	return n, nil
}

// dcmFloat reads a decimal attribute (DS, IS, FL, ...).
func dcmFloat(ds *dicom.Dataset, t tag.Tag) (float64, bool, error) {
	s, i, isInt, ok, err := dcmValue(ds, t)
	if err != nil || !ok {
		return 0, false, err
	}
	if isInt {
		return float64(i), true, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s: bad number %q", tagName(t), s)
	}
	return f, true, nil
}

// dcmString reads a required string attribute.
func dcmString(ds *dicom.Dataset, t tag.Tag) (string, error) {
	s, _, isInt, ok, err := dcmValue(ds, t)
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "", fmt.Errorf("no %s", tagName(t))
	case isInt:
		return "", fmt.Errorf("%s is not a string", tagName(t))
	}
	return s, nil
}

// checkDICOM checks the structure of a DICOM Part 10 file before the dicom
// package parses it, and locates its transfer syntax and pixel data. It walks every
// element the way that package reads it (the same VR and length rules) and
// refuses lengths that run past their container, undefined lengths where the
// package cannot end them, unexpected item tags and deep nesting: the inputs
// on which the parser would allocate what a header claims, log, or loop.
func checkDICOM(d []byte) (dcmPixels, error) {
	s, err := scanDICOM(d)
	if err != nil {
		return dcmPixels{}, err
	}
	return s.px, nil
}

func scanDICOM(d []byte) (*dcmScanner, error) {
	if len(d) < 132 || string(d[128:132]) != "DICM" {
		return nil, errors.New("not a DICOM file (no DICM marker at byte 128)")
	}
	s := &dcmScanner{d: d, bo: binary.LittleEndian}
	e, err := s.header(132, len(d))
	if err != nil {
		return nil, err
	}
	if e.tag != tag.FileMetaInformationGroupLength || e.vr != "UL" || e.vl != 4 || e.value+4 > len(d) {
		return nil, errors.New("no file meta information group length (0002,0000)")
	}
	metaEnd := int64(e.value) + 4 + int64(s.u32(e.value))
	if metaEnd > int64(len(d)) {
		return nil, fmt.Errorf("truncated: file meta information of %d bytes runs past the end", metaEnd-int64(e.value)-4)
	}
	ts, found := "", false
	for off := e.value + 4; off < int(metaEnd); {
		next, e, err := s.element(off, int(metaEnd), 0)
		if err != nil {
			return nil, fmt.Errorf("file meta information: %w", err)
		}
		if e.tag == tag.TransferSyntaxUID && !found { // the dicom package uses the first
			found = true
			if e.vr != "UI" {
				return nil, fmt.Errorf("transfer syntax UID has VR %q, want UI", e.vr)
			}
			ts = strings.Trim(string(d[e.value:next]), " \x00")
			ts, _, _ = strings.Cut(ts, `\`)
		}
		off = next
	}
	switch ts {
	case "":
		return nil, errors.New("no transfer syntax UID (0002,0010) in the file meta information")
	case tsImplicitLE:
		s.implicit = true
	case tsExplicitLE, tsJPEGBaseline:
	default:
		return nil, fmt.Errorf("unsupported transfer syntax %s", tsName(ts))
	}
	s.px.ts = ts
	s.main = true
	if _, err := s.dataset(int(metaEnd), len(d), false, 0); err != nil {
		return nil, err
	}
	return s, nil
}

// dcmMaxDepth bounds the nesting of sequences.
const dcmMaxDepth = 16

// dcmScanner walks DICOM elements for checkDICOM.
type dcmScanner struct {
	d        []byte
	bo       binary.ByteOrder
	implicit bool
	main     bool      // scanning the data set after the file meta information
	px       dcmPixels // its top-level pixel data
}

type dcmElem struct {
	tag   tag.Tag
	vr    string
	vl    uint32
	value int // offset of the value
}

func (s *dcmScanner) u16(off int) uint16 { return s.bo.Uint16(s.d[off:]) }
func (s *dcmScanner) u32(off int) uint32 { return s.bo.Uint32(s.d[off:]) }

// header reads the element header at off, with the VR and length rules of
// the dicom package: items and delimiters are read as implicit, the
// implicit VR comes from the dictionary, and in explicit VR the VRs below
// have a 4-byte length.
func (s *dcmScanner) header(off, end int) (dcmElem, error) {
	if end-off < 8 {
		return dcmElem{}, fmt.Errorf("truncated: element header at byte %d", off)
	}
	t := tag.Tag{Group: s.u16(off), Element: s.u16(off + 2)}
	if t.Group == 0xFFFE {
		return dcmElem{tag: t, vl: s.u32(off + 4), value: off + 8}, nil
	}
	if s.implicit {
		vr := tag.UnknownVR
		if info, err := tag.Find(t); err == nil {
			if len(info.VRs) == 0 {
				return dcmElem{}, fmt.Errorf("element %s has no VR in the dictionary", tagName(t))
			}
			vr = info.VRs[0]
			if info.Tag == tag.PixelData || info.Tag == tag.OverlayData {
				vr = "OW"
			}
		}
		return dcmElem{tag: t, vr: vr, vl: s.u32(off + 4), value: off + 8}, nil
	}
	vr := string(s.d[off+4 : off+6])
	switch vr {
	case "NA", "OB", "OD", "OF", "OL", "OW", "SQ", "UN", "UC", "UR", "UT":
		if end-off < 12 {
			return dcmElem{}, fmt.Errorf("truncated: element header at byte %d", off)
		}
		return dcmElem{tag: t, vr: vr, vl: s.u32(off + 8), value: off + 12}, nil
	}
	vl := uint32(s.u16(off + 6))
	if vl == 0xFFFF {
		vl = tag.VLUndefinedLength
	}
	return dcmElem{tag: t, vr: vr, vl: vl, value: off + 8}, nil
}

// element checks the element at off, which must end by end, and returns the
// offset after it.
func (s *dcmScanner) element(off, end, depth int) (int, dcmElem, error) {
	e, err := s.header(off, end)
	if err != nil {
		return 0, e, err
	}
	if e.tag.Group == 0xFFFE {
		return 0, e, fmt.Errorf("unexpected item or delimiter %s at byte %d", tagName(e.tag), off)
	}
	kind := tag.GetVRKind(e.tag, e.vr)
	top := s.main && depth == 0 && e.tag == tag.PixelData && !s.px.found
	if top {
		s.px.found = true
		s.px.encapsulated = e.vl == tag.VLUndefinedLength
	}
	if e.tag == tag.SpecificCharacterSet && kind != tag.VRStringList && kind != tag.VRString {
		// The dicom package would panic (and log) reading it as strings.
		return 0, e, fmt.Errorf("specific character set (0008,0005) at byte %d has VR %q", off, e.vr)
	}
	if e.vl != tag.VLUndefinedLength {
		if int64(e.vl) > int64(end-e.value) {
			return 0, e, fmt.Errorf("truncated: element %s at byte %d has %d bytes, only %d are left", tagName(e.tag), off, e.vl, end-e.value)
		}
		next := e.value + int(e.vl)
		if top {
			s.px.native = s.d[e.value:next]
		}
		if kind == tag.VRSequence {
			if _, err := s.sequence(e.value, next, false, depth+1); err != nil {
				return 0, e, err
			}
		}
		return next, e, nil
	}
	switch kind {
	case tag.VRPixelData, tag.VRBytes:
		var frags *[][]byte
		if top {
			frags = &s.px.fragments
		}
		next, err := s.rawItems(e.value, end, kind == tag.VRPixelData, frags)
		return next, e, err
	case tag.VRSequence, tag.VRUnknown:
		next, err := s.sequence(e.value, end, true, depth+1)
		return next, e, err
	}
	return 0, e, fmt.Errorf("element %s (VR %q) at byte %d has undefined length", tagName(e.tag), e.vr, off)
}

// dataset checks the elements from off to end, or, when untilDelim, up to
// and including an item delimitation item; it returns the offset after them.
func (s *dcmScanner) dataset(off, end int, untilDelim bool, depth int) (int, error) {
	for {
		if !untilDelim && off == end {
			return off, nil
		}
		if untilDelim && end-off >= 8 && s.u16(off) == 0xFFFE && s.u16(off+2) == 0xE00D {
			if s.u32(off+4) != 0 {
				return 0, fmt.Errorf("item delimitation item at byte %d has a nonzero length", off)
			}
			return off + 8, nil
		}
		next, _, err := s.element(off, end, depth)
		if err != nil {
			return 0, err
		}
		off = next
	}
}

// sequence checks the items of a sequence that ends at end, or, when
// undefined, at a sequence delimitation item.
func (s *dcmScanner) sequence(off, end int, undefined bool, depth int) (int, error) {
	if depth > dcmMaxDepth {
		return 0, fmt.Errorf("sequences nested deeper than %d at byte %d", dcmMaxDepth, off)
	}
	for {
		if !undefined && off == end {
			return off, nil
		}
		e, err := s.header(off, end)
		if err != nil {
			return 0, err
		}
		switch {
		case e.tag == tag.Item && e.vl == tag.VLUndefinedLength:
			if off, err = s.dataset(e.value, end, true, depth); err != nil {
				return 0, err
			}
		case e.tag == tag.Item:
			if int64(e.vl) > int64(end-e.value) {
				return 0, fmt.Errorf("truncated: item at byte %d has %d bytes, only %d are left", off, e.vl, end-e.value)
			}
			if off, err = s.dataset(e.value, e.value+int(e.vl), false, depth); err != nil {
				return 0, err
			}
		case e.tag == tag.SequenceDelimitationItem && undefined:
			if e.vl != 0 {
				return 0, fmt.Errorf("sequence delimitation item at byte %d has a nonzero length", off)
			}
			return e.value, nil
		default:
			return 0, fmt.Errorf("sequence holds %s at byte %d, want an item", tagName(e.tag), off)
		}
	}
}

// rawItems checks encapsulated data (items of bytes up to a sequence
// delimitation item); pixel data must start with an item, its offset table.
// When frags is not nil it collects the items after the first.
func (s *dcmScanner) rawItems(off, end int, pixel bool, frags *[][]byte) (int, error) {
	for first := true; ; first = false {
		e, err := s.header(off, end)
		if err != nil {
			return 0, err
		}
		switch {
		case e.tag == tag.Item && e.vl != tag.VLUndefinedLength:
			if int64(e.vl) > int64(end-e.value) {
				return 0, fmt.Errorf("truncated: item at byte %d has %d bytes, only %d are left", off, e.vl, end-e.value)
			}
			off = e.value + int(e.vl)
			if frags != nil && !first {
				*frags = append(*frags, s.d[e.value:off])
			}
		case e.tag == tag.SequenceDelimitationItem && !(pixel && first):
			if e.vl != 0 {
				return 0, fmt.Errorf("sequence delimitation item at byte %d has a nonzero length", off)
			}
			return e.value, nil
		default:
			return 0, fmt.Errorf("encapsulated data holds %s at byte %d, want an item of defined length", tagName(e.tag), off)
		}
	}
}
