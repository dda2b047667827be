package video

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The files in testdata/io come from testdata/io/gen.py; they hold
// patternValue over 4 frames of 24x32 pixels.
const (
	patT, patH, patW = 4, 24, 32
)

func patternValue(t, y, x, k int) uint8 { return uint8(3*x + 2*y + 10*t + 40*k) }

// patternVideo returns the test pattern as a video.
func patternVideo(t, h, w, c int) *Video {
	v := &Video{Frames: make([]uint8, t*h*w*c), T: t, H: h, W: w, C: c}
	for i := range t {
		f := v.Frame(i)
		for y := range h {
			for x := range w {
				for k := range c {
					f[(y*w+x)*c+k] = patternValue(i, y, x, k)
				}
			}
		}
	}
	return v
}

// pixelDiff returns the mean and maximum absolute difference of two videos
// of the same size.
func pixelDiff(t *testing.T, got, want *Video) (mean float64, maxd int) {
	t.Helper()
	if got.T != want.T || got.H != want.H || got.W != want.W || got.C != want.C {
		t.Fatalf("size %dx%dx%dx%d, want %dx%dx%dx%d", got.T, got.H, got.W, got.C, want.T, want.H, want.W, want.C)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	sum := 0
	for i := range got.Frames {
		d := int(got.Frames[i]) - int(want.Frames[i])
		if d < 0 {
			d = -d
		}
		sum += d
		maxd = max(maxd, d)
	}
	return float64(sum) / float64(len(got.Frames)), maxd
}

func testdataPath(name string) string { return filepath.Join("testdata", "io", name) }

func TestReadAVITestdata(t *testing.T) {
	for _, tc := range []struct {
		file       string
		w, c       int
		fps        float64
		mean, maxd float64 // tolerances against the pattern
	}{
		{"ffmpeg_mjpeg.avi", patW, 3, 25, 1.5, 8},
		{"opencv_mjpg.avi", patW, 3, 15, 1.5, 12},
		{"ffmpeg_bgr24.avi", 30, 3, 25, 0, 0},  // top-down, rows padded to 4 bytes
		{"ffmpeg_gray.avi", patW, 1, 25, 0, 0}, // Y800
	} {
		t.Run(tc.file, func(t *testing.T) {
			v, err := ReadAVIFile(testdataPath(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if v.FPS != tc.fps || v.Source != testdataPath(tc.file) {
				t.Errorf("FPS %g, Source %q; want %g, %q", v.FPS, v.Source, tc.fps, testdataPath(tc.file))
			}
			mean, maxd := pixelDiff(t, v, patternVideo(patT, patH, tc.w, tc.c))
			if mean > tc.mean || float64(maxd) > tc.maxd {
				t.Errorf("differs from the pattern by %.2f on average, %d at most; want at most %g, %g", mean, maxd, tc.mean, tc.maxd)
			}
		})
	}
}

func TestReadAVIPaletteTestdata(t *testing.T) {
	// ffmpeg's pal8 palette is not grey, so the video is RGB; compare with
	// ffmpeg's own decoding.
	v, err := ReadAVIFile(testdataPath("ffmpeg_pal8.avi"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadNPYFile(testdataPath("ffmpeg_pal8.ref.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if _, maxd := pixelDiff(t, v, want); maxd != 0 {
		t.Errorf("differs from ffmpeg's decoding by up to %d", maxd)
	}
}

func TestReadAVIUnsupportedCodec(t *testing.T) {
	_, err := ReadAVIFile(testdataPath("ffmpeg_h264.avi"))
	if err == nil || !strings.Contains(err.Error(), `ffmpeg_h264.avi: unsupported codec "H264"`) {
		t.Errorf("error %v, want one naming the file and codec H264", err)
	}
	for _, tc := range []struct{ fourCC, want string }{
		{"XVID", `unsupported codec "XVID"`},
		{"\x01\x00\x00\x00", "unsupported codec BI_RLE8"},
		{"\x09\x00\x00\x00", "unsupported codec 0x00000009"},
	} {
		data := buildAVI(aviSpec{w: 4, h: 2, bpp: 24, comp: tc.fourCC, frames: [][]byte{make([]byte, 24)}})
		_, err := ReadAVI(bytes.NewReader(data), int64(len(data)), "x.avi")
		if err == nil || err.Error() != "video: read x.avi: "+tc.want {
			t.Errorf("%q: error %v, want %q", tc.fourCC, err, tc.want)
		}
	}
}

// aviSpec describes a synthetic AVI for buildAVI.
type aviSpec struct {
	w, h       int32 // BITMAPINFOHEADER size; h < 0 for top-down
	bpp        uint16
	comp       string // biCompression FourCC
	palette    [][3]uint8
	frames     [][]byte
	rate       uint32 // strh rate over scale 1; 0 leaves both 0
	usPerFrame uint32
	rec        bool   // put the frames in a LIST rec
	noIndex    bool   // leave out idx1
	junk       bool   // add JUNK chunks
	stream     int    // video stream number (audio streams come first)
	extraMovi  []byte // raw chunks appended to movi
}

func riffChunk(id string, data ...[]byte) []byte {
	body := bytes.Join(data, nil)
	out := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	out = append(out, body...)
	if len(body)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func riffList(typ string, chunks ...[]byte) []byte {
	return riffChunk("LIST", append([][]byte{[]byte(typ)}, chunks...)...)
}

func le32(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func buildAVI(s aviSpec) []byte {
	avih := le32(s.usPerFrame, 0, 0, 0x10, uint32(len(s.frames)), 0, uint32(s.stream+1), 0, uint32(s.w), uint32(s.h), 0, 0, 0, 0)
	scale := uint32(0)
	if s.rate != 0 {
		scale = 1
	}
	strh := append([]byte("vids"), []byte(s.comp)...)
	strh = append(strh, le32(0, 0, 0, scale, s.rate, 0, uint32(len(s.frames)), 0, 0, 0, 0, 0)...)
	bih := le32(40, uint32(s.w), uint32(s.h))
	bih = binary.LittleEndian.AppendUint16(bih, 1)
	bih = binary.LittleEndian.AppendUint16(bih, s.bpp)
	bih = append(bih, []byte(s.comp)...)
	bih = append(bih, le32(0, 0, 0, uint32(len(s.palette)), 0)...)
	for _, p := range s.palette {
		bih = append(bih, p[2], p[1], p[0], 0)
	}
	var strls [][]byte
	for range s.stream {
		audio := append([]byte("auds"), make([]byte, 52)...)
		strls = append(strls, riffList("strl", riffChunk("strh", audio), riffChunk("strf", make([]byte, 18))))
	}
	strl := [][]byte{riffChunk("strh", strh), riffChunk("strf", bih)}
	if s.junk {
		strl = append(strl, riffChunk("JUNK", make([]byte, 7)))
	}
	strls = append(strls, riffList("strl", strl...))
	hdrl := riffList("hdrl", append([][]byte{riffChunk("avih", avih)}, strls...)...)

	id := []byte{'0' + byte(s.stream/10), '0' + byte(s.stream%10), 'd', 'c'}
	var chunks [][]byte
	var idx []byte
	off := uint32(4)
	for _, f := range s.frames {
		c := riffChunk(string(id), f)
		if s.stream > 0 {
			chunks = append(chunks, riffChunk("00wb", []byte{1, 2, 3})) // audio
		}
		chunks = append(chunks, c)
		idx = append(idx, id...)
		idx = append(idx, le32(0x10, off, uint32(len(f)))...)
		off += uint32(len(c))
	}
	if s.junk {
		chunks = append(chunks, riffChunk("JUNK", make([]byte, 3)))
	}
	if s.rec {
		chunks = [][]byte{riffList("rec ", chunks...)}
	}
	chunks = append(chunks, s.extraMovi)
	top := [][]byte{[]byte("AVI "), hdrl}
	if s.junk {
		top = append(top, riffChunk("JUNK", make([]byte, 100)))
	}
	top = append(top, riffList("movi", chunks...))
	if !s.noIndex {
		top = append(top, riffChunk("idx1", idx))
	}
	return riffChunk("RIFF", top...)
}

func readAVIBytes(data []byte) (*Video, error) {
	return ReadAVI(bytes.NewReader(data), int64(len(data)), "t.avi")
}

func TestReadAVIDIB(t *testing.T) {
	greyPal := make([][3]uint8, 256)
	for i := range greyPal {
		greyPal[i] = [3]uint8{uint8(i), uint8(i), uint8(i)}
	}
	colourPal := [][3]uint8{{10, 20, 30}, {40, 50, 60}, {70, 80, 90}}

	// 3x2 frames. 8-bit rows pad to 4 bytes, 24-bit rows (9 bytes) to 12.
	grey8 := []byte{1, 2, 3, 0, 4, 5, 6, 0}                                                          // bottom row first
	col8 := []byte{0, 1, 2, 0, 2, 1, 0, 0}                                                           // bottom row first
	bgr24 := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0, 11, 12, 13, 14, 15, 16, 17, 18, 19, 0, 0, 0} // top row first
	bgrx32 := []byte{1, 2, 3, 99, 4, 5, 6, 99, 7, 8, 9, 99, 11, 12, 13, 99, 14, 15, 16, 99, 17, 18, 19, 99}
	for _, tc := range []struct {
		name string
		spec aviSpec
		c    int
		want []uint8 // both frames
	}{
		{"grey palette, bottom-up", aviSpec{w: 3, h: 2, bpp: 8, comp: "\x00\x00\x00\x00", palette: greyPal, frames: [][]byte{grey8, grey8}}, 1,
			[]uint8{4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3}},
		{"colour palette", aviSpec{w: 3, h: -2, bpp: 8, comp: "DIB ", palette: colourPal, frames: [][]byte{col8, col8}}, 3,
			[]uint8{10, 20, 30, 40, 50, 60, 70, 80, 90, 70, 80, 90, 40, 50, 60, 10, 20, 30,
				10, 20, 30, 40, 50, 60, 70, 80, 90, 70, 80, 90, 40, 50, 60, 10, 20, 30}},
		{"24-bit top-down", aviSpec{w: 3, h: -2, bpp: 24, comp: "\x00\x00\x00\x00", frames: [][]byte{bgr24, bgr24}}, 3,
			[]uint8{3, 2, 1, 6, 5, 4, 9, 8, 7, 13, 12, 11, 16, 15, 14, 19, 18, 17,
				3, 2, 1, 6, 5, 4, 9, 8, 7, 13, 12, 11, 16, 15, 14, 19, 18, 17}},
		{"24-bit bottom-up, packed rows", aviSpec{w: 3, h: 2, bpp: 24, comp: "\x00\x00\x00\x00", frames: [][]byte{
			append(bytes.Clone(bgr24[12:21]), bgr24[:9]...), append(bytes.Clone(bgr24[12:21]), bgr24[:9]...)}}, 3,
			[]uint8{3, 2, 1, 6, 5, 4, 9, 8, 7, 13, 12, 11, 16, 15, 14, 19, 18, 17,
				3, 2, 1, 6, 5, 4, 9, 8, 7, 13, 12, 11, 16, 15, 14, 19, 18, 17}},
		{"32-bit, empty chunk repeats", aviSpec{w: 3, h: -2, bpp: 32, comp: "\x00\x00\x00\x00", frames: [][]byte{bgrx32, {}}}, 3,
			[]uint8{3, 2, 1, 6, 5, 4, 9, 8, 7, 13, 12, 11, 16, 15, 14, 19, 18, 17,
				3, 2, 1, 6, 5, 4, 9, 8, 7, 13, 12, 11, 16, 15, 14, 19, 18, 17}},
		{"Y800, rec list, no index, junk, stream 1", aviSpec{w: 3, h: 2, bpp: 8, comp: "Y800", rec: true, noIndex: true, junk: true, stream: 1,
			frames: [][]byte{{1, 2, 3, 4, 5, 6}, {7, 8, 9, 10, 11, 12}}}, 1,
			[]uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.rate = 50
			v, err := readAVIBytes(buildAVI(tc.spec))
			if err != nil {
				t.Fatal(err)
			}
			if v.T != 2 || v.H != 2 || v.W != 3 || v.C != tc.c || v.FPS != 50 {
				t.Fatalf("got %dx%dx%dx%d at %g fps, want 2x2x3x%d at 50", v.T, v.H, v.W, v.C, v.FPS, tc.c)
			}
			if !bytes.Equal(v.Frames, tc.want) {
				t.Errorf("frames\n%v, want\n%v", v.Frames, tc.want)
			}
		})
	}
}

func TestReadAVIErrors(t *testing.T) {
	jpg := encodeJPEG(t, patternVideo(1, 8, 8, 1), 90)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not an AVI file"},
		{"not RIFF", []byte("RIFX\x04\x00\x00\x00AVI "), "not an AVI file"},
		{"WAVE", []byte("RIFF\x04\x00\x00\x00WAVE"), "not an AVI file"},
		{"no header", riffChunk("RIFF", []byte("AVI "), riffList("movi")), "no hdrl"},
		{"no frames", buildAVI(aviSpec{w: 8, h: 8, bpp: 24, comp: "MJPG"}), "no video frames"},
		{"first frame empty", buildAVI(aviSpec{w: 8, h: 8, bpp: 24, comp: "MJPG", frames: [][]byte{{}}}), "frame 0: empty chunk"},
		{"bad JPEG", buildAVI(aviSpec{w: 8, h: 8, bpp: 24, comp: "MJPG", frames: [][]byte{jpg, jpg, jpg[:40]}}), "t.avi: frame 2: JPEG"},
		{"JPEG size", buildAVI(aviSpec{w: 16, h: 8, bpp: 24, comp: "MJPG", frames: [][]byte{jpg}}), "frame 0: JPEG is 8x8, the stream format says 16x8"},
		{"short DIB frame", buildAVI(aviSpec{w: 4, h: 4, bpp: 24, comp: "DIB ", frames: [][]byte{make([]byte, 48), make([]byte, 47)}}), "frame 1: 47 bytes, want 48"},
		{"16-bit DIB", buildAVI(aviSpec{w: 4, h: 4, bpp: 16, comp: "DIB ", frames: [][]byte{make([]byte, 32)}}), "unsupported 16-bit"},
		{"no palette", buildAVI(aviSpec{w: 4, h: 4, bpp: 8, comp: "DIB ", frames: [][]byte{make([]byte, 16)}}), "need a palette"},
		{"colour outside palette", buildAVI(aviSpec{w: 4, h: 1, bpp: 8, comp: "DIB ", palette: [][3]uint8{{1, 1, 1}}, frames: [][]byte{{0, 0, 1, 0}}}),
			"frame 0: pixel (2,0) is colour 1 of a 1-colour palette"},
		{"chunk past list", riffChunk("RIFF", []byte("AVI "), []byte("LIST\xff\x00\x00\x00hdrl")), "run past the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := readAVIBytes(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "video: read t.avi: ") {
				t.Errorf("got %v, error %v; want an error containing %q", v != nil, err, tc.want)
			}
		})
	}
	if _, err := ReadAVIFile(filepath.Join(t.TempDir(), "missing.avi")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v, want one wrapping os.ErrNotExist", err)
	}
}

// TestReadAVIHugeClaims checks that headers claiming huge frames in tiny
// files are refused without allocating what they claim.
func TestReadAVIHugeClaims(t *testing.T) {
	// A JPEG header claiming 60000x60000 pixels, with almost no data.
	small := encodeJPEG(t, patternVideo(1, 8, 8, 1), 90)
	huge := bytes.Clone(small)
	sof := bytes.Index(huge, []byte{0xFF, 0xC0})
	binary.BigEndian.PutUint16(huge[sof+5:], 60000)
	binary.BigEndian.PutUint16(huge[sof+7:], 60000)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"DIB 65536x65536", buildAVI(aviSpec{w: 65536, h: 65536, bpp: 24, comp: "DIB ", frames: [][]byte{make([]byte, 10)}})},
		{"DIB too big", buildAVI(aviSpec{w: 1 << 20, h: 1, bpp: 24, comp: "DIB ", frames: [][]byte{make([]byte, 10)}})},
		{"JPEG 60000x60000", buildAVI(aviSpec{w: 0, h: 0, bpp: 24, comp: "MJPG", frames: [][]byte{huge}})},
		{"RIFF size", append([]byte("RIFF\xf0\xff\xff\xffAVI "), make([]byte, 88)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if n := allocatedBy(func() { _, err = readAVIBytes(tc.data) }); n > 16<<20 {
				t.Errorf("allocated %d bytes for a %d-byte file", n, len(tc.data))
			}
			if err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestReadAVITruncated(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteAVI(&buf, patternVideo(3, 8, 8, 3), nil); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	if _, err := readAVIBytes(full); err != nil {
		t.Fatal(err)
	}
	for n := range len(full) {
		if v, err := readAVIBytes(full[:n]); err == nil {
			t.Fatalf("file cut to %d of %d bytes: no error (got %d frames)", n, len(full), v.T)
		}
	}
	// The same for files that others wrote.
	for _, f := range []string{"ffmpeg_bgr24.avi", "opencv_mjpg.avi"} {
		full, err := os.ReadFile(testdataPath(f))
		if err != nil {
			t.Fatal(err)
		}
		for n := range len(full) {
			if _, err := readAVIBytes(full[:n]); err == nil {
				t.Fatalf("%s cut to %d of %d bytes: no error", f, n, len(full))
			}
		}
	}
}

func TestReadAVIOddChunks(t *testing.T) {
	// Odd-sized JPEG frames get a pad byte; the odd size must survive.
	v := patternVideo(3, 16, 16, 1)
	var frames [][]byte
	for i := range v.T {
		f := encodeJPEG(t, &Video{Frames: v.Frame(i), T: 1, H: 16, W: 16, C: 1}, 90)
		if len(f)%2 == 0 {
			f = append(f, 0) // bytes after EOI are ignored by decoders
		}
		frames = append(frames, f)
	}
	got, err := readAVIBytes(buildAVI(aviSpec{w: 16, h: 16, bpp: 24, comp: "mjpg", frames: frames, usPerFrame: 40000, junk: true}))
	if err != nil {
		t.Fatal(err)
	}
	if got.FPS != 25 {
		t.Errorf("FPS %g, want 25 from avih", got.FPS)
	}
	if mean, _ := pixelDiff(t, got, v); mean > 1 {
		t.Errorf("mean error %g", mean)
	}
}

func TestReadAVIMissingHuffmanTables(t *testing.T) {
	for _, c := range []int{1, 3} {
		v := patternVideo(1, 16, 24, c)
		jpg := encodeJPEG(t, v, 95)
		// Remove the DHT segment: image/jpeg writes the standard tables.
		i := bytes.Index(jpg, []byte{0xFF, 0xC4})
		n := int(binary.BigEndian.Uint16(jpg[i+2:]))
		stripped := append(bytes.Clone(jpg[:i]), jpg[i+2+n:]...)
		if _, err := jpeg.Decode(bytes.NewReader(stripped)); err == nil {
			t.Fatal("image/jpeg decodes a JPEG without Huffman tables; the test is moot")
		}
		want := make([]uint8, len(v.Frames))
		if err := decodeJPEG(jpg, want, 24, 16, c); err != nil {
			t.Fatal(err)
		}
		got, err := readAVIBytes(buildAVI(aviSpec{w: 24, h: 16, bpp: 24, comp: "MJPG", frames: [][]byte{stripped}}))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Frames, want) {
			t.Errorf("C=%d: frames differ from those of the JPEG with its tables", c)
		}
	}
}

func TestReadAVIOpenDML(t *testing.T) {
	// A second RIFF AVIX chunk with more frames, as OpenDML writers add.
	grey := [][3]uint8{}
	for i := range 256 {
		grey = append(grey, [3]uint8{uint8(i), uint8(i), uint8(i)})
	}
	data := buildAVI(aviSpec{w: 4, h: 1, bpp: 8, comp: "\x00\x00\x00\x00", palette: grey, frames: [][]byte{{1, 2, 3, 4}}})
	data = append(data, riffChunk("RIFF", []byte("AVIX"), riffList("movi", riffChunk("00db", []byte{5, 6, 7, 8})))...)
	v, err := readAVIBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint8{1, 2, 3, 4, 5, 6, 7, 8}; v.T != 2 || !bytes.Equal(v.Frames, want) {
		t.Errorf("got %d frames %v, want 2 frames %v", v.T, v.Frames, want)
	}
}

func TestReadAVIMixedGrey(t *testing.T) {
	// One grey and one colour JPEG: the video is RGB, the grey frame
	// replicated.
	g := patternVideo(1, 8, 8, 1)
	c := patternVideo(1, 8, 8, 3)
	v, err := readAVIBytes(buildAVI(aviSpec{w: 8, h: 8, bpp: 24, comp: "MJPG", frames: [][]byte{encodeJPEG(t, g, 100), encodeJPEG(t, c, 100)}}))
	if err != nil {
		t.Fatal(err)
	}
	if v.C != 3 {
		t.Fatalf("C = %d, want 3", v.C)
	}
	f := v.Frame(0)
	for p := 0; p < len(f); p += 3 {
		if f[p] != f[p+1] || f[p] != f[p+2] || math.Abs(float64(f[p])-float64(g.Frames[p/3])) > 2 {
			t.Fatalf("grey frame pixel %d is %v, want %d three times", p/3, f[p:p+3], g.Frames[p/3])
		}
	}
}

func TestFourCCName(t *testing.T) {
	for in, want := range map[string]string{"H264": `"H264"`, "\x02\x00\x00\x00": "BI_RLE4", "ab\x00\x01": `"ab\x00\x01"`} {
		if got := fourCCName([]byte(in)); got != want {
			t.Errorf("fourCCName(%q) = %s, want %s", in, got, want)
		}
	}
}

// allocatedBy returns the bytes fn allocates (all goroutines counted).
func allocatedBy(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// encodeJPEG encodes frame 0 of v.
func encodeJPEG(t testing.TB, v *Video, quality int) []byte {
	t.Helper()
	var m image.Image
	if v.C == 1 {
		m = &image.Gray{Pix: v.Frame(0), Stride: v.W, Rect: image.Rect(0, 0, v.W, v.H)}
	} else {
		rgba := image.NewRGBA(image.Rect(0, 0, v.W, v.H))
		for i, j := 0, 0; i < v.FrameSize(); i, j = i+3, j+4 {
			copy(rgba.Pix[j:], v.Frames[i:i+3])
			rgba.Pix[j+3] = 255
		}
		m = rgba
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func FuzzReadAVI(f *testing.F) {
	var buf bytes.Buffer
	WriteAVI(&buf, patternVideo(2, 8, 8, 1), nil)
	f.Add(buf.Bytes())
	buf.Reset()
	WriteAVI(&buf, patternVideo(2, 8, 16, 3), &AVIOptions{Quality: 50})
	f.Add(buf.Bytes())
	grey := [][3]uint8{{0, 0, 0}, {9, 9, 9}}
	f.Add(buildAVI(aviSpec{w: 2, h: 2, bpp: 8, comp: "\x00\x00\x00\x00", palette: grey, frames: [][]byte{{0, 1, 0, 0, 1, 0, 0, 0}}, rec: true}))
	f.Add(buildAVI(aviSpec{w: 2, h: -2, bpp: 24, comp: "DIB ", frames: [][]byte{make([]byte, 16), {}}, junk: true, stream: 1}))
	f.Add(buildAVI(aviSpec{w: 2, h: 2, bpp: 8, comp: "Y800", frames: [][]byte{{1, 2, 3, 4}}, noIndex: true}))
	for _, name := range fuzzSeeds(f, "avi") {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := readAVIBytes(data)
		if err != nil {
			if v != nil || !strings.HasPrefix(err.Error(), "video: read t.avi: ") {
				t.Fatalf("video %v with error %v", v, err)
			}
			return
		}
		if err := v.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}

// fuzzSeeds lists the committed regression inputs testdata/io/fuzz-KIND-*.
func fuzzSeeds(t testing.TB, kind string) []string {
	names, err := filepath.Glob(testdataPath("fuzz-" + kind + "-*"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}
