package video

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
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
	tsDeflatedLE   = "1.2.840.10008.1.2.1.99"
	tsExplicitBE   = "1.2.840.10008.1.2.2"
	tsJPEGBaseline = "1.2.840.10008.1.2.4.50"
	tsRLE          = "1.2.840.10008.1.2.5"
	tsJPEGLossless = "1.2.840.10008.1.2.4.57"
	tsJPEGSV1      = "1.2.840.10008.1.2.4.70"
	tsJPEGExtended = "1.2.840.10008.1.2.4.51"
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
// Transfer syntaxes: implicit and explicit VR little endian, explicit VR
// big endian and deflated explicit VR little endian (native pixels), RLE
// Lossless (1.2.840.10008.1.2.5), JPEG Baseline (1.2.840.10008.1.2.4.50,
// 8-bit frames decoded by this package's baseline decoder, which gives
// image/jpeg's pixels, or by image/jpeg where it declines, see
// decodeBaselineJPEG), JPEG Extended (.4.51: 8-bit frames
// the same way, 12-bit ones by this package, one scan of components that
// are not subsampled) and JPEG Lossless process 14 (.4.57, any predictor,
// and .4.70, selection value 1; 2 to 16 bits, decoded by this package). Any
// other (JPEG-LS, JPEG 2000, ...) is an error naming its UID and name. Photometric interpretations:
//   - MONOCHROME2, and MONOCHROME1 (inverted): C = 1. Unsigned 8-bit
//     samples are taken as they are. Others (16 bits allocated, or signed)
//     go through the modality rescale (Rescale Slope and Intercept) and the
//     first VOI window (Window Center and Width; VOI LUT Function LINEAR,
//     LINEAR_EXACT or SIGMOID) to 8 bits, as PS3.3 C.11.2 says; without a
//     window the range of the whole video's values is stretched to 0-255;
//   - RGB and YBR_FULL (unsigned 8-bit): C = 3, native pixels interleaved
//     (planar configuration 0) or one plane per colour (1);
//   - YBR_FULL_422: C = 3, native pixels as Y0 Y1 Cb Cr for each pair of
//     pixels (planar configuration 0, even width);
//   - PALETTE COLOR (8 or 16-bit indices): C = 3, through the red, green
//     and blue lookup tables (8 or 16-bit entries; 16-bit ones keep their
//     high byte). Segmented tables are not supported.
//
// YBR is converted to RGB with the JPEG (BT.601 full-range) equations.
// Colour JPEG frames are converted to RGB as their own markers say, by
// libjpeg's rule (see jpegHeader.rgb in jpegcolour.go: JFIF, then the Adobe
// transform flag, then component ids 'R','G','B' or 1,2,3), whatever the
// photometric interpretation claims; only a stream that says nothing (no
// JFIF or Adobe marker, other ids) is RGB when the photometric
// interpretation is RGB, and YCbCr otherwise. Subsampled chroma is
// interpolated as libjpeg does.
//
// Encapsulated frames are found by the Extended Offset Table, else the
// Basic Offset Table, else one fragment per frame, else (JPEG) the
// fragments that start with an SOI marker; a frame may span fragments of
// any length, odd ones included.
//
// FPS is 1000 / FrameTime (0018,1063, in ms), else 1000 / the mean interval
// of FrameTimeVector (0018,1065), else CineRate (0018,0040), else
// RecommendedDisplayFrameRate (0008,2144), else 0.
//
// The whole file is read into memory. Its structure is checked first (every
// element length against the bytes that hold it, nesting depth), so that a
// damaged file is an error rather than a huge allocation; that check also
// locates the pixel data, which is decoded straight from the file's bytes,
// while the dicom package parses the attributes before it. A deflated data
// set is inflated first (to at most 9 GiB).
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
	ds, px, err := readDICOMHeader(data)
	if err != nil {
		return nil, err
	}
	return dicomVideo(&ds, px)
}

// readDICOMHeader checks the file's structure, locates its pixel data and
// parses the attributes before it.
func readDICOMHeader(data []byte) (dicom.Dataset, dcmPixels, error) {
	s, err := scanDICOM(data)
	if err != nil {
		return dicom.Dataset{}, dcmPixels{}, err
	}
	ds, err := parseDICOM(s.d[:s.px.start])
	if err != nil {
		return dicom.Dataset{}, dcmPixels{}, fmt.Errorf("dicom: %w", err)
	}
	return ds, s.px, nil
}

// parseDICOM runs the dicom parser on the attributes before the pixel data
// (which scanDICOM has located and checked; the parser cannot read the
// Extended Offset Table's VR OV that may precede it), turning its panics on
// malformed values into errors.
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
	bo           binary.ByteOrder // of the data set
	start        int              // offset of the first top-level element of group 7FE0 or above (or the end)
	found        bool
	encapsulated bool
	vr           string   // of the pixel data
	native       []byte   // native pixel data, a slice of the file
	bot          []byte   // encapsulated: the Basic Offset Table
	fragments    [][]byte // encapsulated fragments after the offset table
	itemOffs     []int64  // offset of each fragment's item from the first one's
	eot, eotLen  []byte   // Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002)
}

// dicomFPS reads the frame rate attributes: 1000 / Frame Time (ms), else
// 1000 / the mean of the Frame Time Vector after its first entry (the time
// of the first frame, 0), else Cine Rate, else Recommended Display Frame
// Rate, else 0.
func dicomFPS(ds *dicom.Dataset) (float64, error) {
	for _, t := range []tag.Tag{tag.FrameTime, tag.FrameTimeVector, tag.CineRate, tag.RecommendedDisplayFrameRate} {
		var f float64
		var ok bool
		var err error
		if t == tag.FrameTimeVector {
			f, ok, err = dcmMeanInterval(ds)
		} else {
			f, ok, err = dcmFloat(ds, t)
		}
		if err != nil {
			return 0, err
		}
		if !ok || !(f > 0) || math.IsInf(f, 0) {
			continue
		}
		if t == tag.FrameTime || t == tag.FrameTimeVector {
			return 1000 / f, nil
		}
		return f, nil
	}
	return 0, nil
}

// dcmMeanInterval returns the mean of the Frame Time Vector (0018,1065)
// after its first entry.
func dcmMeanInterval(ds *dicom.Dataset) (float64, bool, error) {
	e, err := ds.FindElementByTag(tag.FrameTimeVector)
	if err != nil {
		return 0, false, nil
	}
	var xs []float64
	switch v := e.Value.GetValue().(type) {
	case []string:
		for _, s := range v {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return 0, false, fmt.Errorf("%s: bad number %q", tagName(tag.FrameTimeVector), s)
			}
			xs = append(xs, f)
		}
	case []float64:
		xs = v
	default:
		return 0, false, fmt.Errorf("%s has a value of unexpected type", tagName(tag.FrameTimeVector))
	}
	if len(xs) < 2 {
		return 0, false, nil
	}
	sum := 0.0
	for _, x := range xs[1:] {
		sum += x
	}
	return sum / float64(len(xs)-1), true, nil
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
	ts, found, tsAt := "", false, 0
	for off := e.value + 4; off < int(metaEnd); {
		next, e, err := s.element(off, int(metaEnd), 0)
		if err != nil {
			return nil, fmt.Errorf("file meta information: %w", err)
		}
		if e.tag == tag.TransferSyntaxUID && !found { // the dicom package uses the first
			found, tsAt = true, e.value
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
	case tsExplicitBE:
		s.bo = binary.BigEndian
	case tsDeflatedLE:
		if s.d, err = inflateDICOM(d, int(metaEnd), tsAt); err != nil {
			return nil, err
		}
	case tsExplicitLE, tsJPEGBaseline, tsRLE, tsJPEGLossless, tsJPEGSV1, tsJPEGExtended:
	default:
		return nil, fmt.Errorf("unsupported transfer syntax %s", tsName(ts))
	}
	s.px.ts, s.px.bo = ts, s.bo
	s.px.start = len(s.d)
	s.main = true
	if _, err := s.dataset(int(metaEnd), len(s.d), false, 0); err != nil {
		return nil, err
	}
	return s, nil
}

// maxInflated bounds the size of a deflated data set once inflated.
const maxInflated = maxVideoBytes + 1<<30

// inflateDICOM returns the file d with its deflated data set (after the
// file meta information, which ends at metaEnd) inflated, and its transfer
// syntax UID (whose value starts at tsAt) rewritten, in place and with the
// same length, as explicit VR little endian for the dicom parser.
func inflateDICOM(d []byte, metaEnd, tsAt int) ([]byte, error) {
	var b bytes.Buffer
	b.Write(d[:metaEnd])
	r := flate.NewReader(bytes.NewReader(d[metaEnd:]))
	n, err := b.ReadFrom(io.LimitReader(r, maxInflated+1))
	if err != nil {
		return nil, fmt.Errorf("deflated data set: %w", noEOF(err))
	}
	if n > maxInflated {
		return nil, fmt.Errorf("deflated data set inflates to more than %d bytes", int64(maxInflated))
	}
	out := b.Bytes()
	copy(out[tsAt:], tsExplicitLE+"\x00\x00\x00")
	return out, nil
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
	case "NA", "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UN", "UC", "UR", "UT", "UV":
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
		s.px.vr = e.vr
	}
	if s.main && depth == 0 && e.tag.Group >= 0x7FE0 && off < s.px.start {
		s.px.start = off
	}
	switch e.vr {
	case "OV", "SV", "UV":
		// The dicom package reads these with a 2-byte length; it only sees
		// the attributes before s.px.start.
		if !s.main || depth != 0 || e.tag.Group < 0x7FE0 {
			return 0, e, fmt.Errorf("element %s at byte %d has VR %s, which the dicom package cannot read", tagName(e.tag), off, e.vr)
		}
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
		switch {
		case top:
			s.px.native = s.d[e.value:next]
		case s.main && depth == 0 && e.tag == tag.ExtendedOffsetTable:
			s.px.eot = s.d[e.value:next]
		case s.main && depth == 0 && e.tag == tag.ExtendedOffsetTableLengths:
			s.px.eotLen = s.d[e.value:next]
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
		var px *dcmPixels
		if top {
			px = &s.px
		}
		next, err := s.rawItems(e.value, end, kind == tag.VRPixelData, px)
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
// When px is not nil it records the offset table and the items after it.
func (s *dcmScanner) rawItems(off, end int, pixel bool, px *dcmPixels) (int, error) {
	firstFrag := 0
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
			item := off
			off = e.value + int(e.vl)
			switch {
			case px == nil:
			case first:
				px.bot, firstFrag = s.d[e.value:off], off
			default:
				px.fragments = append(px.fragments, s.d[e.value:off])
				px.itemOffs = append(px.itemOffs, int64(item-firstFrag))
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
