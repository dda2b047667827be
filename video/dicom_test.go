package video

import (
	"bytes"
	"encoding/binary"
	"image/color"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
)

func TestReadDICOMTestdata(t *testing.T) {
	for _, tc := range []struct {
		file       string
		c          int
		fps        float64
		mean, maxd float64
	}{
		{"mono2_explicit.dcm", 1, 25, 0, 0},
		{"rgb_planar1_implicit.dcm", 3, 30, 0, 0},
		{"ybr422_explicit.dcm", 3, 20, 1, 3}, // chroma averaged over pixel pairs
		{"jpeg_rgb.dcm", 3, 20, 1.5, 8},
		{"jpeg_mono2.dcm", 1, 0, 0.5, 3},
	} {
		t.Run(tc.file, func(t *testing.T) {
			v, err := ReadDICOMFile(testdataPath(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if v.FPS != tc.fps || v.Source != testdataPath(tc.file) {
				t.Errorf("FPS %g, Source %q; want %g, %q", v.FPS, v.Source, tc.fps, testdataPath(tc.file))
			}
			mean, maxd := pixelDiff(t, v, patternVideo(patT, patH, patW, tc.c))
			if mean > tc.mean || float64(maxd) > tc.maxd {
				t.Errorf("differs from the pattern by %.2f on average, %d at most; want at most %g, %g", mean, maxd, tc.mean, tc.maxd)
			}
		})
	}
}

func TestReadDICOMUnsupportedTransferSyntax(t *testing.T) {
	_, err := ReadDICOMFile(testdataPath("jpeg2000.dcm"))
	want := "jpeg2000.dcm: unsupported transfer syntax 1.2.840.10008.1.2.4.90 (JPEG 2000 Image Compression (Lossless Only))"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want one containing %q", err, want)
	}
	for _, ts := range []string{"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.91", "1.2.3.4"} {
		_, err := readDICOMTest(dcmRaw(ts, dcmRawElem(0x0028, 0x0010, "US", []byte{2, 0})))
		if err == nil || !strings.Contains(err.Error(), "unsupported transfer syntax "+ts+" (") {
			t.Errorf("%s: error %v", ts, err)
		}
	}
}

// dcmSpec describes a DICOM file for buildDICOM.
type dcmSpec struct {
	ts                  string
	pi                  string
	spp, planar         int // planar < 0 leaves PlanarConfiguration out
	rows, cols, frames  int
	bits                int // 0 means 8
	raw                 []byte
	fragments           [][]byte // encapsulated pixel data
	frameTime, cineRate string
	noPixels            bool
	signed              bool
	extra               map[tag.Tag]any // more attributes, before the pixel data
}

func newDcmElement(t testing.TB, tg tag.Tag, v any) *dicom.Element {
	t.Helper()
	e, err := dicom.NewElement(tg, v)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// buildDICOM writes a DICOM file with the dicom package.
func buildDICOM(t testing.TB, s dcmSpec) []byte {
	t.Helper()
	if s.bits == 0 {
		s.bits = 8
	}
	els := []*dicom.Element{
		newDcmElement(t, tag.MediaStorageSOPClassUID, []string{"1.2.840.10008.5.1.4.1.1.3.1"}),
		newDcmElement(t, tag.MediaStorageSOPInstanceUID, []string{"1.2.3.4.5"}),
		newDcmElement(t, tag.TransferSyntaxUID, []string{s.ts}),
		newDcmElement(t, tag.SOPClassUID, []string{"1.2.840.10008.5.1.4.1.1.3.1"}),
		newDcmElement(t, tag.Modality, []string{"US"}),
	}
	if s.frameTime != "" {
		els = append(els, newDcmElement(t, tag.FrameTime, []string{s.frameTime}))
	}
	if s.cineRate != "" {
		els = append(els, newDcmElement(t, tag.CineRate, []string{s.cineRate}))
	}
	els = append(els,
		newDcmElement(t, tag.SamplesPerPixel, []int{s.spp}),
		newDcmElement(t, tag.PhotometricInterpretation, []string{s.pi}))
	if s.planar >= 0 && s.spp == 3 {
		els = append(els, newDcmElement(t, tag.PlanarConfiguration, []int{s.planar}))
	}
	els = append(els,
		newDcmElement(t, tag.NumberOfFrames, []string{strconv.Itoa(s.frames)}),
		newDcmElement(t, tag.Rows, []int{s.rows}),
		newDcmElement(t, tag.Columns, []int{s.cols}),
		newDcmElement(t, tag.BitsAllocated, []int{s.bits}),
		newDcmElement(t, tag.BitsStored, []int{s.bits}),
		newDcmElement(t, tag.HighBit, []int{s.bits - 1}),
		newDcmElement(t, tag.PixelRepresentation, []int{map[bool]int{false: 0, true: 1}[s.signed]}))
	for tg, v := range s.extra {
		els = append(els, newDcmElement(t, tg, v))
	}
	switch {
	case s.noPixels:
	case s.fragments != nil:
		info := dicom.PixelDataInfo{IsEncapsulated: true}
		for _, f := range s.fragments {
			if len(f)%2 == 1 {
				f = append(bytes.Clone(f), 0)
			}
			info.Frames = append(info.Frames, &frame.Frame{Encapsulated: true, EncapsulatedData: frame.EncapsulatedFrame{Data: f}})
		}
		e := newDcmElement(t, tag.PixelData, info)
		e.RawValueRepresentation = "OB"
		e.ValueLength = tag.VLUndefinedLength
		els = append(els, e)
	default:
		els = append(els, newDcmElement(t, tag.PixelData, dicom.PixelDataInfo{IntentionallyUnprocessed: true, UnprocessedValueData: s.raw}))
	}
	var b bytes.Buffer
	if err := dicom.Write(&b, dicom.Dataset{Elements: els}, dicom.SkipVRVerification()); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readDICOMTest(data []byte) (*Video, error) { return ReadDICOM(bytes.NewReader(data), "t.dcm") }

func TestReadDICOMNative(t *testing.T) {
	// Two frames of 2x2 RGB pixels, and the same as planes and as YBR.
	rgb := []uint8{
		255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 128, 128,
		10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120,
	}
	planes := func(px []uint8) []uint8 {
		var out []uint8
		for f := 0; f < len(px); f += 12 {
			for k := range 3 {
				for p := range 4 {
					out = append(out, px[f+3*p+k])
				}
			}
		}
		return out
	}
	ybr := make([]uint8, len(rgb))
	wantYBR := make([]uint8, len(rgb))
	for p := 0; p < len(rgb); p += 3 {
		y, cb, cr := color.RGBToYCbCr(rgb[p], rgb[p+1], rgb[p+2])
		ybr[p], ybr[p+1], ybr[p+2] = y, cb, cr
		wantYBR[p], wantYBR[p+1], wantYBR[p+2] = color.YCbCrToRGB(y, cb, cr)
	}
	grey := []uint8{0, 50, 100, 255, 1, 2, 3, 4}
	inv := []uint8{255, 205, 155, 0, 254, 253, 252, 251}
	for _, tc := range []struct {
		name string
		spec dcmSpec
		c    int
		fps  float64
		want []uint8
	}{
		{"MONOCHROME2 explicit", dcmSpec{ts: tsExplicitLE, pi: "MONOCHROME2", spp: 1, raw: grey, frameTime: "33.3333"}, 1, 1000 / 33.3333, grey},
		{"MONOCHROME1 implicit", dcmSpec{ts: tsImplicitLE, pi: "MONOCHROME1", spp: 1, raw: grey, cineRate: "24"}, 1, 24, inv},
		{"RGB planar 0", dcmSpec{ts: tsExplicitLE, pi: "RGB", spp: 3, raw: rgb}, 3, 0, rgb},
		{"RGB planar 1", dcmSpec{ts: tsImplicitLE, pi: "RGB", spp: 3, planar: 1, raw: planes(rgb)}, 3, 0, rgb},
		{"RGB, no planar configuration", dcmSpec{ts: tsExplicitLE, pi: "RGB", spp: 3, planar: -1, raw: rgb}, 3, 0, rgb},
		{"YBR_FULL planar 0", dcmSpec{ts: tsExplicitLE, pi: "YBR_FULL", spp: 3, raw: ybr}, 3, 0, wantYBR},
		{"YBR_FULL planar 1", dcmSpec{ts: tsExplicitLE, pi: "YBR_FULL", spp: 3, planar: 1, raw: planes(ybr)}, 3, 0, wantYBR},
		{"YBR_FULL_422", dcmSpec{ts: tsExplicitLE, pi: "YBR_FULL_422", spp: 3, raw: []uint8{
			10, 20, 128, 128, 30, 40, 128, 128, 50, 60, 128, 128, 70, 80, 128, 128}}, 3, 0,
			[]uint8{10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40, 50, 50, 50, 60, 60, 60, 70, 70, 70, 80, 80, 80}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.rows, tc.spec.cols, tc.spec.frames = 2, 2, 2
			v, err := readDICOMTest(buildDICOM(t, tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			if v.T != 2 || v.H != 2 || v.W != 2 || v.C != tc.c || math.Abs(v.FPS-tc.fps) > 1e-9 || v.Source != "t.dcm" {
				t.Fatalf("got %dx%dx%dx%d at %g fps from %q, want 2x2x2x%d at %g", v.T, v.H, v.W, v.C, v.FPS, v.Source, tc.c, tc.fps)
			}
			for i := range v.Frames {
				if d := int(v.Frames[i]) - int(tc.want[i]); d < -1 || d > 1 {
					t.Fatalf("frames\n%v, want\n%v", v.Frames, tc.want)
				}
			}
		})
	}
}

func TestReadDICOMGrey16(t *testing.T) {
	le := binary.LittleEndian
	px := func(vs ...int) []byte {
		var b []byte
		for _, v := range vs {
			b = le.AppendUint16(b, uint16(int16(v)))
		}
		return b
	}
	for _, tc := range []struct {
		name string
		spec dcmSpec
		want []uint8
	}{
		// Window 0 +- 1000 over signed values: PS3.3 C.11.2.1.2.1.
		{"signed, window", dcmSpec{pi: "MONOCHROME2", signed: true, raw: px(-2000, -500, 0, 1500),
			extra: map[tag.Tag]any{tag.WindowCenter: []string{"0"}, tag.WindowWidth: []string{"2000"}}},
			[]uint8{0, 64, 128, 255}},
		{"MONOCHROME1, rescale, window", dcmSpec{pi: "MONOCHROME1", raw: px(0, 100, 200, 300),
			extra: map[tag.Tag]any{tag.RescaleSlope: []string{"2"}, tag.RescaleIntercept: []string{"-100"},
				tag.WindowCenter: []string{"200"}, tag.WindowWidth: []string{"401"}}},
			[]uint8{255, 191, 64, 0}},
		{"min-max", dcmSpec{pi: "MONOCHROME2", raw: px(1000, 1100, 1200, 1510)}, []uint8{0, 50, 100, 255}},
		{"LINEAR_EXACT", dcmSpec{pi: "MONOCHROME2", raw: px(0, 50, 100, 150),
			extra: map[tag.Tag]any{tag.WindowCenter: []string{"100"}, tag.WindowWidth: []string{"100"}, tag.VOILUTFunction: []string{"LINEAR_EXACT"}}},
			[]uint8{0, 0, 128, 255}},
		{"SIGMOID", dcmSpec{pi: "MONOCHROME2", raw: px(0, 50, 100, 150),
			extra: map[tag.Tag]any{tag.WindowCenter: []string{"100"}, tag.WindowWidth: []string{"100"}, tag.VOILUTFunction: []string{"SIGMOID"}}},
			[]uint8{5, 30, 128, 225}}, // 255 / (1 + exp(-4 (x-c) / w))
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.ts, tc.spec.spp, tc.spec.bits, tc.spec.rows, tc.spec.cols, tc.spec.frames = tsExplicitLE, 1, 16, 2, 2, 1
			v, err := readDICOMTest(buildDICOM(t, tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range v.Frames {
				if d := int(x) - int(tc.want[i]); d < -1 || d > 1 {
					t.Fatalf("got %v, want %v", v.Frames, tc.want)
				}
			}
		})
	}
	spec := dcmSpec{ts: tsExplicitLE, pi: "MONOCHROME2", spp: 1, bits: 16, rows: 1, cols: 2, frames: 1, raw: px(1, 2),
		extra: map[tag.Tag]any{tag.WindowCenter: []string{"1"}, tag.WindowWidth: []string{"0"}}}
	if _, err := readDICOMTest(buildDICOM(t, spec)); err == nil || !strings.Contains(err.Error(), "VOI window of center 1, width 0") {
		t.Errorf("width 0: error %v", err)
	}
}

func TestReadDICOMSizeClaims(t *testing.T) {
	// Headers that claim far more pixels than the file holds are refused
	// before anything of that size is allocated.
	rle := make([]byte, 64)
	binary.LittleEndian.PutUint32(rle, 1)
	binary.LittleEndian.PutUint32(rle[4:], 64)
	for _, tc := range []struct {
		name string
		spec dcmSpec
		want string
	}{
		{"RLE", dcmSpec{ts: tsRLE, pi: "MONOCHROME2", spp: 1, rows: 30000, cols: 30000, frames: 1, fragments: [][]byte{rle}},
			"frame 0: 64 bytes of RLE data cannot hold 1 segments of 900000000 bytes"},
		{"RLE frames", dcmSpec{ts: tsRLE, pi: "MONOCHROME2", spp: 1, rows: 2, cols: 2, frames: 60000, fragments: [][]byte{rle}},
			"1 fragments for 60000 frames and no offset table"},
		{"lossless JPEG", dcmSpec{ts: tsJPEGSV1, pi: "MONOCHROME2", spp: 1, rows: 30000, cols: 30000, frames: 2, fragments: [][]byte{rle, rle}},
			"frame 0: 64 bytes of lossless JPEG cannot hold 30000x30000 pixels"},
		{"JPEG Extended", dcmSpec{ts: tsJPEGExtended, pi: "MONOCHROME2", spp: 1, bits: 16, rows: 30000, cols: 30000, frames: 2, fragments: [][]byte{rle, rle}},
			"frame 0: 64 bytes of JPEG cannot hold 30000x30000 pixels"},
		{"native", dcmSpec{ts: tsExplicitLE, pi: "MONOCHROME2", spp: 1, bits: 16, rows: 30000, cols: 30000, frames: 1, raw: make([]byte, 8)},
			"pixel data has 8 bytes, want 1800000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := buildDICOM(t, tc.spec)
			var err error
			if n := allocatedBy(func() { _, err = readDICOMTest(data) }); n > 16<<20 {
				t.Errorf("allocated %d bytes for a %d-byte file", n, len(data))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReadDICOMJPEG(t *testing.T) {
	for _, c := range []int{1, 3} {
		v := patternVideo(patT, patH, patW, c)
		var jpegs [][]byte
		for i := range v.T {
			jpegs = append(jpegs, encodeJPEG(t, &Video{Frames: v.Frame(i), T: 1, H: v.H, W: v.W, C: c}, 95))
		}
		pi := map[int]string{1: "MONOCHROME2", 3: "YBR_FULL_422"}[c]
		// Split every frame into two fragments, as some writers do.
		var split [][]byte
		for _, j := range jpegs {
			split = append(split, j[:len(j)/2&^1], j[len(j)/2&^1:])
		}
		for name, frags := range map[string][][]byte{"one fragment per frame": jpegs, "two fragments per frame": split} {
			spec := dcmSpec{ts: tsJPEGBaseline, pi: pi, spp: c, rows: patH, cols: patW, frames: patT, fragments: frags, frameTime: "40"}
			got, err := readDICOMTest(buildDICOM(t, spec))
			if err != nil {
				t.Fatalf("C=%d, %s: %v", c, name, err)
			}
			if mean, maxd := pixelDiff(t, got, v); mean > 1 || maxd > 6 || got.FPS != 25 {
				t.Errorf("C=%d, %s: mean error %g, max %d, FPS %g", c, name, mean, maxd, got.FPS)
			}
		}
	}
	// A single frame in many fragments.
	j := encodeJPEG(t, patternVideo(1, 8, 8, 1), 90)
	spec := dcmSpec{ts: tsJPEGBaseline, pi: "MONOCHROME2", spp: 1, rows: 8, cols: 8, frames: 1, fragments: [][]byte{j[:10], j[10:20], j[20:]}}
	if _, err := readDICOMTest(buildDICOM(t, spec)); err != nil {
		t.Errorf("fragmented single frame: %v", err)
	}
}

func TestReadDICOMErrors(t *testing.T) {
	j := encodeJPEG(t, patternVideo(1, 8, 8, 3), 90)
	base := dcmSpec{ts: tsExplicitLE, pi: "MONOCHROME2", spp: 1, rows: 2, cols: 2, frames: 1, raw: make([]byte, 4)}
	mod := func(f func(*dcmSpec)) []byte {
		s := base
		f(&s)
		return buildDICOM(t, s)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a DICOM file"},
		{"no DICM", make([]byte, 200), "not a DICOM file"},
		{"12 bits", mod(func(s *dcmSpec) { s.bits = 12; s.raw = make([]byte, 6) }), "12 bits allocated"},
		{"16-bit RGB", mod(func(s *dcmSpec) { s.bits, s.pi, s.spp, s.raw = 16, "RGB", 3, make([]byte, 24) }), "RGB with 16 bits allocated"},
		{"palette without tables", mod(func(s *dcmSpec) { s.pi = "PALETTE COLOR" }), `no Red Palette Color Lookup Table Descriptor (0028,1101)`},
		{"palette with 3 samples", mod(func(s *dcmSpec) { s.pi, s.spp = "PALETTE COLOR", 3 }), `photometric interpretation "PALETTE COLOR" with 3 samples`},
		{"RGB with 1 sample", mod(func(s *dcmSpec) { s.pi = "RGB" }), `photometric interpretation "RGB" with 1 samples`},
		{"short pixel data", mod(func(s *dcmSpec) { s.frames = 2 }), "pixel data has 4 bytes, want 8"},
		{"long pixel data", mod(func(s *dcmSpec) { s.raw = make([]byte, 8) }), "pixel data has 8 bytes, want 4"},
		{"no pixel data", mod(func(s *dcmSpec) { s.noPixels = true }), "no pixel data"},
		{"no rows", mod(func(s *dcmSpec) { s.rows = 0 }), "bad size"},
		{"422 planar", mod(func(s *dcmSpec) { s.pi, s.spp, s.planar, s.raw = "YBR_FULL_422", 3, 1, make([]byte, 8) }), "YBR_FULL_422 needs planar configuration 0"},
		{"frame count", mod(func(s *dcmSpec) { s.ts, s.rows, s.cols, s.frames, s.fragments = tsJPEGBaseline, 8, 8, 2, [][]byte{j} }),
			"1 JPEG frames in the pixel data, NumberOfFrames says 2"},
		{"JPEG size", mod(func(s *dcmSpec) {
			s.ts, s.pi, s.spp, s.rows, s.cols, s.fragments = tsJPEGBaseline, "RGB", 3, 8, 16, [][]byte{j}
		}),
			"frame 0: JPEG is 8x8, the data set says 16x8"},
		{"colour JPEG, mono", mod(func(s *dcmSpec) { s.ts, s.rows, s.cols, s.fragments = tsJPEGBaseline, 8, 8, [][]byte{j} }),
			"frame 0: colour JPEG in a monochrome data set"},
		{"bad JPEG", mod(func(s *dcmSpec) {
			s.ts, s.pi, s.spp, s.rows, s.cols, s.fragments = tsJPEGBaseline, "RGB", 3, 8, 8, [][]byte{j[:len(j)-100]}
		}),
			"frame 0: JPEG"},
		{"two JPEGs, one frame", mod(func(s *dcmSpec) {
			s.ts, s.pi, s.spp, s.rows, s.cols, s.fragments = tsJPEGBaseline, "RGB", 3, 8, 8, [][]byte{j, j}
		}), "2 JPEG frames in the pixel data, NumberOfFrames says 1"},
		{"native data, JPEG syntax", mod(func(s *dcmSpec) { s.ts = tsJPEGBaseline }), "not encapsulated"},
		{"encapsulated data, native syntax", mod(func(s *dcmSpec) { s.fragments = [][]byte{j} }), "native but the pixel data is encapsulated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := readDICOMTest(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "video: read t.dcm: ") {
				t.Errorf("got %v, error %v; want an error containing %q", v != nil, err, tc.want)
			}
		})
	}
}

// dcmRaw builds a DICOM file by hand: a file meta group with the given
// transfer syntax, then body (explicit VR little endian elements).
func dcmRaw(ts string, body ...[]byte) []byte {
	if len(ts)%2 == 1 {
		ts += "\x00"
	}
	meta := dcmRawElem(0x0002, 0x0010, "UI", []byte(ts))
	out := append(make([]byte, 128), "DICM"...)
	out = append(out, dcmRawElem(0x0002, 0x0000, "UL", binary.LittleEndian.AppendUint32(nil, uint32(len(meta))))...)
	out = append(out, meta...)
	return append(out, bytes.Join(body, nil)...)
}

// dcmRawElem encodes an explicit VR little endian element; a value of nil
// with vr SQ or OB gives an undefined length.
func dcmRawElem(group, elem uint16, vr string, value []byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, group)
	b = binary.LittleEndian.AppendUint16(b, elem)
	b = append(b, vr...)
	switch vr {
	case "OB", "OW", "SQ", "UN", "UT":
		b = append(b, 0, 0)
		n := uint32(len(value))
		if value == nil {
			n = 0xFFFFFFFF
		}
		b = binary.LittleEndian.AppendUint32(b, n)
	default:
		b = binary.LittleEndian.AppendUint16(b, uint16(len(value)))
	}
	return append(b, value...)
}

// dcmItem encodes an item (or delimiter) header.
func dcmItem(elem uint16, n uint32) []byte {
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint16([]byte{0xFE, 0xFF}, elem), n)
}

func TestReadDICOMStructure(t *testing.T) {
	le := binary.LittleEndian
	rows := dcmRawElem(0x0028, 0x0010, "US", le.AppendUint16(nil, 2))
	// An element claiming 4 GB.
	huge := binary.LittleEndian.AppendUint32(append(le.AppendUint16(le.AppendUint16(nil, 0x0009), 0x0010), "OB\x00\x00"...), 0xFFFFFFF0)
	nested := dcmRawElem(0x0040, 0x0260, "SQ", nil) // undefined-length sequences, 40 deep
	var deep []byte
	for range 40 {
		deep = append(deep, nested...)
		deep = append(deep, dcmItem(0xE000, 0xFFFFFFFF)...)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"no meta length", append(append(make([]byte, 128), "DICM"...), dcmRawElem(0x0002, 0x0010, "UI", []byte("1.2.840.10008.1.2\x00"))...), "no file meta information group length"},
		{"no transfer syntax", append(append(make([]byte, 128), "DICM"...), dcmRawElem(0x0002, 0x0000, "UL", []byte{0, 0, 0, 0})...), "no transfer syntax"},
		{"huge element", dcmRaw(tsExplicitLE, rows, huge, make([]byte, 20)), "has 4294967280 bytes, only 20 are left"},
		{"huge string", dcmRaw(tsExplicitLE, rows, dcmRawElem(0x0010, 0x0010, "PN", []byte("ab"))[:6], []byte{0xF0, 0xFF}), "has 65520 bytes"},
		{"undefined date", dcmRaw(tsExplicitLE, append(dcmRawElem(0x0008, 0x0020, "DA", nil)[:6], 0xFF, 0xFF)), "undefined length"},
		{"deep nesting", dcmRaw(tsExplicitLE, deep), "nested deeper than"},
		{"sequence of non-items", dcmRaw(tsExplicitLE, dcmRawElem(0x0040, 0x0260, "SQ", rows)), "want an item"},
		{"unterminated sequence", dcmRaw(tsExplicitLE, nested, dcmItem(0xE000, 0)), "truncated"},
		{"stray delimiter", dcmRaw(tsExplicitLE, rows, dcmItem(0xE00D, 0)), "unexpected item or delimiter"},
		{"pixel data without offset table", dcmRaw(tsJPEGBaseline, dcmRawElem(0x7FE0, 0x0010, "OB", nil), dcmItem(0xE0DD, 0)), "want an item"},
		{"pixel data item past the end", dcmRaw(tsJPEGBaseline, dcmRawElem(0x7FE0, 0x0010, "OB", nil), dcmItem(0xE000, 0), dcmItem(0xE000, 1000)), "item at byte"},
		{"pixel data without delimiter", dcmRaw(tsJPEGBaseline, dcmRawElem(0x7FE0, 0x0010, "OB", nil), dcmItem(0xE000, 0), dcmItem(0xE000, 2), []byte{1, 2}), "truncated"},
		{"trailing bytes", dcmRaw(tsExplicitLE, rows, []byte{1, 2, 3}), "truncated: element header"},
		{"character set as US", dcmRaw(tsExplicitLE, dcmRawElem(0x0008, 0x0005, "US", []byte{1, 0})), `specific character set (0008,0005) at byte 172 has VR "US"`},
		{"transfer syntax as US", append(append(make([]byte, 128), "DICM"...), append(dcmRawElem(0x0002, 0x0000, "UL", []byte{10, 0, 0, 0}),
			dcmRawElem(0x0002, 0x0010, "US", []byte{1, 0})...)...), `transfer syntax UID has VR "US"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if n := allocatedBy(func() { _, err = readDICOMTest(tc.data) }); n > 16<<20 {
				t.Errorf("allocated %d bytes for a %d-byte file", n, len(tc.data))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReadDICOMTruncated(t *testing.T) {
	files := map[string][]byte{
		"native": buildDICOM(t, dcmSpec{ts: tsExplicitLE, pi: "RGB", spp: 3, rows: 2, cols: 2, frames: 2, raw: make([]byte, 24), frameTime: "20"}),
		"jpeg":   buildDICOM(t, dcmSpec{ts: tsJPEGBaseline, pi: "MONOCHROME2", spp: 1, rows: 8, cols: 8, frames: 1, fragments: [][]byte{encodeJPEG(t, patternVideo(1, 8, 8, 1), 50)}}),
	}
	for _, name := range []string{"jpeg_mono2.dcm", "rgb_planar1_implicit.dcm"} {
		data, err := os.ReadFile(testdataPath(name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	for name, full := range files {
		if _, err := readDICOMTest(full); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for n := range len(full) {
			if _, err := readDICOMTest(full[:n]); err == nil {
				t.Fatalf("%s cut to %d of %d bytes: no error", name, n, len(full))
			}
		}
	}
}

func TestYBRToRGB(t *testing.T) {
	for _, c := range [][3]uint8{{0, 128, 128}, {255, 128, 128}, {76, 85, 255}, {150, 44, 21}, {29, 255, 107}, {10, 200, 30}} {
		r, g, b := ybrToRGB(c[0], c[1], c[2])
		wr, wg, wb := color.YCbCrToRGB(c[0], c[1], c[2])
		for _, d := range []int{int(r) - int(wr), int(g) - int(wg), int(b) - int(wb)} {
			if d < -1 || d > 1 {
				t.Errorf("ybrToRGB%v = %d,%d,%d; image/color says %d,%d,%d", c, r, g, b, wr, wg, wb)
			}
		}
	}
}

func FuzzReadDICOM(f *testing.F) {
	f.Add(buildDICOM(f, dcmSpec{ts: tsExplicitLE, pi: "MONOCHROME2", spp: 1, rows: 2, cols: 2, frames: 2, raw: make([]byte, 8), frameTime: "40"}))
	f.Add(buildDICOM(f, dcmSpec{ts: tsImplicitLE, pi: "YBR_FULL", spp: 3, planar: 1, rows: 2, cols: 2, frames: 1, raw: make([]byte, 12)}))
	f.Add(buildDICOM(f, dcmSpec{ts: tsJPEGBaseline, pi: "MONOCHROME2", spp: 1, rows: 8, cols: 8, frames: 1,
		fragments: [][]byte{encodeJPEG(f, patternVideo(1, 8, 8, 1), 50)}}))
	f.Add(dcmRaw(tsExplicitLE, dcmRawElem(0x0040, 0x0260, "SQ", nil), dcmItem(0xE000, 0xFFFFFFFF),
		dcmRawElem(0x0028, 0x0010, "US", []byte{2, 0}), dcmItem(0xE00D, 0), dcmItem(0xE0DD, 0)))
	seeds := append(fuzzSeeds(f, "dicom"), testdataPath("jpeg_mono2.dcm"))
	for _, name := range []string{"rle_rgb_dcmtk.dcm", "rle_grey_gdcm.dcm", "grey16_window_rle.dcm", "deflate_grey.dcm",
		"bigendian_rgb.dcm", "grey16_window_bigendian.dcm", "grey16_minmax.dcm", "palette_8.dcm", "palette_16.dcm",
		"frames_eot.dcm", "frames_split_bot.dcm", "frames_odd.dcm", "fps_vector.dcm",
		"jpeg_lossless_sv1_rgb_gdcm.dcm", "jpeg_lossless_sv6_grey16.dcm",
		"jpegcolour_ycc_nojfif_adobe1_idsRGB_RGB.dcm", "jpegcolour_rgb_nojfif_adobe0_idsRGB_RGB.dcm"} {
		seeds = append(seeds, dicomCorpusPath(name))
	}
	for _, name := range seeds {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := readDICOMTest(data)
		if err != nil {
			if v != nil || !strings.HasPrefix(err.Error(), "video: read t.dcm: ") {
				t.Fatalf("video %v with error %v", v, err)
			}
			return
		}
		if err := v.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
