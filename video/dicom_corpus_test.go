package video

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// dicomCorpusPath names a file of the corpus that
// testdata/dicom/make_corpus.py made with dcmtk, GDCM and pydicom.
func dicomCorpusPath(name string) string { return filepath.Join("testdata", "dicom", name) }

// dicomCorpusRow is a line of testdata/dicom/corpus.csv.
type dicomCorpusRow struct {
	file, ref, match, err string
	fps                   float64
}

func dicomCorpus(t testing.TB) []dicomCorpusRow {
	t.Helper()
	f, err := os.Open(dicomCorpusPath("corpus.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []dicomCorpusRow
	for _, r := range recs[1:] {
		fps, err := strconv.ParseFloat(r[3], 64)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, dicomCorpusRow{file: r[0], ref: r[1], match: r[2], fps: fps, err: r[4]})
	}
	if len(rows) < 100 {
		t.Fatalf("corpus.csv lists %d files", len(rows))
	}
	return rows
}

// dicomCorpusTodo lists the corpus files (by prefix) that ReadDICOM does
// not decode yet.
var dicomCorpusTodo = []string{}

// TestReadDICOMCorpus decodes every file of the corpus and compares it with
// the reference decoding (Pillow/libjpeg-turbo for JPEG frames, pydicom and
// GDCM for lossless pixels, dcmtk's dcmj2pnm for windowed and palette
// images): "exact", "max1" (no sample off by more than 1) or "mad3" (lossy:
// mean absolute difference at most 3 grey levels).
func TestReadDICOMCorpus(t *testing.T) {
	for _, row := range dicomCorpus(t) {
		t.Run(row.file, func(t *testing.T) {
			for _, p := range dicomCorpusTodo {
				if strings.HasPrefix(row.file, p) {
					t.Skip("not decoded yet")
				}
			}
			path := dicomCorpusPath(row.file)
			v, err := ReadDICOMFile(path)
			if row.err != "" {
				if err == nil || !strings.Contains(err.Error(), row.err) || !strings.HasPrefix(err.Error(), "video: read "+path+": ") {
					t.Fatalf("error %v, want one containing %q", err, row.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := ReadFile(dicomCorpusPath(row.ref)) // .npy or .npz
			if err != nil {
				t.Fatal(err)
			}
			if v.T != want.T || v.H != want.H || v.W != want.W || v.C != want.C {
				t.Fatalf("got %dx%dx%dx%d, want %dx%dx%dx%d", v.T, v.H, v.W, v.C, want.T, want.H, want.W, want.C)
			}
			if math.Abs(v.FPS-row.fps) > 1e-3 {
				t.Errorf("FPS %g, want %g", v.FPS, row.fps)
			}
			mean, maxd := pixelDiff(t, v, want)
			t.Logf("%s: mean absolute difference %.3f, max %d", row.file, mean, maxd)
			switch {
			case row.match == "exact" && maxd != 0,
				row.match == "max1" && maxd > 1,
				row.match == "mad3" && mean > 3:
				t.Errorf("differs from the reference by %.2f on average, %d at most (want %s)", mean, maxd, row.match)
			}
		})
	}
}

func TestJPEGHeaderRGB(t *testing.T) {
	for _, tc := range []struct {
		h    jpegHeader
		want bool
	}{
		{jpegHeader{ids: []byte("RGB")}, true},
		{jpegHeader{ids: []byte{1, 2, 3}}, false},
		{jpegHeader{ids: []byte{0, 1, 2}}, false},
		{jpegHeader{ids: []byte{0, 1, 2}, rgbHint: true}, true},
		{jpegHeader{ids: []byte{1, 2, 3}, rgbHint: true}, false},
		{jpegHeader{ids: []byte{0, 1, 2}, rgbHint: true, jfif: true}, false},
		{jpegHeader{ids: []byte{0, 1, 2}, rgbHint: true, adobe: true, transform: 1}, false},
		{jpegHeader{ids: []byte("RGB"), jfif: true}, false},
		{jpegHeader{ids: []byte("RGB"), adobe: true, transform: 1}, false},
		{jpegHeader{ids: []byte("RGB"), adobe: true, transform: 2}, false},
		{jpegHeader{ids: []byte{1, 2, 3}, adobe: true}, true},
		{jpegHeader{ids: []byte{1, 2, 3}, adobe: true, jfif: true}, false},
		{jpegHeader{ids: []byte("RG"), adobe: true}, false},
	} {
		if got := tc.h.rgb(); got != tc.want {
			t.Errorf("%+v: rgb() = %v", tc.h, got)
		}
	}
}

func FuzzScanJPEGHeader(f *testing.F) {
	for _, name := range []string{"jpegcolour_rgb_nojfif_adobe0_idsRGB_RGB.dcm", "jpegcolour_ycc_jfif_noadobe_ids123_RGB.dcm"} {
		data, err := os.ReadFile(dicomCorpusPath(name))
		if err != nil {
			f.Fatal(err)
		}
		px, err := checkDICOM(data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(px.fragments[0])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := scanJPEGHeader(data)
		if len(h.ids) > 255 {
			t.Fatalf("%d component ids", len(h.ids))
		}
		h.rgb()
	})
}

// dicomCorpusFile reads a corpus file and locates its pixel data; the
// fragments and tables of px are slices of data, so that tests can damage
// them in place.
func dicomCorpusFile(t testing.TB, name string) ([]byte, dcmPixels) {
	t.Helper()
	data, err := os.ReadFile(dicomCorpusPath(name))
	if err != nil {
		t.Fatal(err)
	}
	px, err := checkDICOM(data)
	if err != nil {
		t.Fatal(err)
	}
	return data, px
}

func TestReadDICOMCorpusTruncated(t *testing.T) {
	for _, name := range []string{"rle_grey_gdcm.dcm", "deflate_grey.dcm", "bigendian_grey.dcm", "frames_eot.dcm", "palette_8.dcm", "jpeg_lossless_sv7_grey.dcm"} {
		full, _ := dicomCorpusFile(t, name)
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

func TestReadDICOMDamaged(t *testing.T) {
	le := binary.LittleEndian
	for _, tc := range []struct {
		file   string
		damage func(data []byte, px dcmPixels)
		want   string
	}{
		{"rle_grey_dcmtk.dcm", func(_ []byte, px dcmPixels) { le.PutUint32(px.fragments[2], 2) },
			"frame 2: 2 RLE segments, want 1 for 1 samples of 8 bits"},
		{"rle_rgb_gdcm.dcm", func(_ []byte, px dcmPixels) { le.PutUint32(px.fragments[3][8:], 1<<20) },
			"frame 3: RLE segment 0: bytes"},
		{"rle_rgb_dcmtk.dcm", func(_ []byte, px dcmPixels) {
			f := px.fragments[1]
			seg := le.Uint32(f[8:])
			for i := seg; i < le.Uint32(f[12:]); i++ {
				f[i] = 0x80 // no-ops
			}
		}, "frame 1: RLE segment 1: 0 bytes, want 768"},
		{"rle_grey_dcmtk.dcm", func(_ []byte, px dcmPixels) {
			f := px.fragments[0]
			f[64], f[65] = 0x81, 0 // a run of 128 zeros, then the rest: too many bytes
			for i := 66; i < len(f); i++ {
				f[i] = 0x7F
			}
		}, "frame 0: RLE segment 0: "},
		{"frames_eot.dcm", func(_ []byte, px dcmPixels) { le.PutUint64(px.eot[8:], 3) },
			"offset table: frame 1 at offset 3 is not the start of a fragment"},
		{"frames_split_bot.dcm", func(_ []byte, px dcmPixels) { le.PutUint32(px.bot[12:], 1<<30) },
			"offset table: frame 3 at offset 1073741824 is not the start of a fragment"},
		{"frames_split_nobot.dcm", func(_ []byte, px dcmPixels) { f := px.fragments[len(px.fragments)-1]; f[0], f[1] = 0xFF, 0xD8 },
			"5 JPEG frames in the pixel data, NumberOfFrames says 4"},
		{"deflate_grey.dcm", func(data []byte, _ dcmPixels) {
			data[144+le.Uint32(data[140:])] = 0x07 // block type 3, reserved
		}, "deflated data set: flate: corrupt input before offset 1"},
		{"palette_16.dcm", func(data []byte, _ dcmPixels) {
			i := bytes.Index(data, []byte{0x28, 0, 0x02, 0x11}) // Green descriptor
			data[i+8] = 3                                       // 3 entries, but 256 in the table
		}, "Green Palette Color Lookup Table Data (0028,1202): 512 bytes for 259 entries of 16 bits"},
	} {
		t.Run(tc.file+": "+tc.want, func(t *testing.T) {
			data, px := dicomCorpusFile(t, tc.file)
			tc.damage(data, px)
			_, err := readDICOMTest(data)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "video: read t.dcm: ") {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestUnpackBits(t *testing.T) {
	for _, tc := range []struct {
		src  []byte
		n    int
		want string // or an error
	}{
		{[]byte{2, 'a', 'b', 'c'}, 3, "abc"},
		{[]byte{0xFE, 'x'}, 3, "xxx"},
		{[]byte{0x80, 1, 'a', 'b', 0xFF, 'z'}, 4, "abzz"},
		{[]byte{0, 'a', 0}, 1, "a"}, // padding after the end
		{[]byte{0x81, 'q'}, 128, strings.Repeat("q", 128)},
		{[]byte{2, 'a'}, 3, "literal run of 3 bytes at byte 0 runs past"},
		{[]byte{0xFE}, 3, "replicate run at byte 0 without its byte"},
		{[]byte{0xFD, 'x'}, 3, "run past the 3 bytes of the segment at byte 0"},
		{[]byte{1, 'a', 'b'}, 3, "2 bytes, want 3"},
	} {
		dst := make([]byte, tc.n)
		err := unpackBits(dst, tc.src)
		got := string(dst)
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("unpackBits(%v) = %q, want %q", tc.src, got, tc.want)
		}
	}
}

func FuzzUnpackBits(f *testing.F) {
	_, px := dicomCorpusFile(f, "rle_rgb_dcmtk.dcm")
	f.Add(px.fragments[0][64:], 768)
	f.Add([]byte{0x81, 1}, 128)
	f.Fuzz(func(t *testing.T, src []byte, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		dst := make([]byte, n)
		if err := unpackBits(dst, src); err == nil && n > 64*len(src) {
			t.Fatalf("%d bytes from %d", n, len(src))
		}
	})
}

func TestLosslessJPEG16Exact(t *testing.T) {
	// The 12-bit samples themselves, not only their 8-bit rendering, must
	// come back: the native file holds the source that dcmcjpeg encoded.
	_, src := dicomCorpusFile(t, "grey16_window_MONOCHROME2.dcm")
	fs := len(src.native) / 4
	for sv := 1; sv <= 7; sv++ {
		_, px := dicomCorpusFile(t, "jpeg_lossless_sv"+strconv.Itoa(sv)+"_grey16.dcm")
		for i, f := range px.fragments {
			got := make([]byte, fs)
			if err := decodeLosslessJPEG(f, 32, 24, 1, 2, got); err != nil {
				t.Fatalf("selection value %d, frame %d: %v", sv, i, err)
			}
			if !bytes.Equal(got, src.native[i*fs:(i+1)*fs]) {
				t.Errorf("selection value %d, frame %d: samples differ from the source", sv, i)
			}
		}
	}
}

func TestLosslessJPEGErrors(t *testing.T) {
	_, px := dicomCorpusFile(t, "jpeg_lossless_sv1_rgb.dcm")
	f := px.fragments[0]
	sos := bytes.Index(f, []byte{0xFF, 0xDA})
	for _, tc := range []struct {
		name string
		data []byte
		w    int
		want string
	}{
		{"no SOI", f[2:], 32, "no SOI marker"},
		{"size", f, 30, "JPEG is 32x24 with 3 components, the data set says 30x24 with 3"},
		{"truncated", f[:len(f)/2], 32, "entropy-coded data ends early"},
		{"header cut", f[:sos+5], 32, "marker DA at byte 50: length 12 runs past the end"},
		{"scan of one component", append(append(bytes.Clone(f[:sos+4]), 1), f[sos+5:]...), 32, "scan header of 10 bytes; want one scan of all 3 components"},
		{"baseline", encodeJPEG(t, patternVideo(1, 24, 32, 3), 90), 32, "frame type SOF0 is not lossless Huffman (SOF3)"},
	} {
		err := decodeLosslessJPEG(tc.data, tc.w, 24, 3, 1, make([]byte, 24*tc.w*3))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func FuzzDecodeLosslessJPEG(f *testing.F) {
	for _, name := range []string{"jpeg_lossless_sv1_rgb_gdcm.dcm", "jpeg_lossless_sv6_grey16.dcm", "jpeg_lossless_sv4_grey.dcm"} {
		_, px := dicomCorpusFile(f, name)
		f.Add(px.fragments[0], 32, 24)
	}
	f.Fuzz(func(t *testing.T, data []byte, w, h int) {
		if w <= 0 || h <= 0 || w*h > 1<<16 {
			return
		}
		for _, nc := range []int{1, 3} {
			for nb := 1; nb <= 2; nb++ {
				_ = decodeLosslessJPEG(data, w, h, nc, nb, make([]byte, w*h*nc*nb))
			}
		}
	})
}

func TestExtendedJPEG12Samples(t *testing.T) {
	// The 12-bit samples against GDCM's decoding of the same file.
	_, ref := dicomCorpusFile(t, "jpeg_extended12_gdcm_raw.dcm")
	_, px := dicomCorpusFile(t, "jpeg_extended12.dcm")
	fs := len(ref.native) / 4
	sum, maxd := 0, 0
	for i, f := range px.fragments {
		got := make([]byte, fs)
		if err := decodeExtendedJPEG(f, 32, 24, 1, got); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		for p := 0; p < fs; p += 2 {
			d := int(binary.LittleEndian.Uint16(got[p:])) - int(binary.LittleEndian.Uint16(ref.native[i*fs+p:]))
			sum, maxd = sum+max(d, -d), max(maxd, d, -d)
		}
	}
	mean := float64(sum) / float64(len(ref.native)/2)
	t.Logf("12-bit samples differ from GDCM's by %.3f on average, %d at most", mean, maxd)
	if mean > 1 || maxd > 4 {
		t.Errorf("12-bit samples differ from GDCM's by %.3f on average, %d at most", mean, maxd)
	}
}

func TestExtendedJPEGErrors(t *testing.T) {
	_, px := dicomCorpusFile(t, "jpeg_extended12.dcm")
	f := px.fragments[0]
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"no SOI", f[2:], "no SOI marker"},
		{"truncated", f[:len(f)*2/3], "entropy-coded data ends early"},
		{"lossless", func() []byte { _, p := dicomCorpusFile(t, "jpeg_lossless_sv1_grey16.dcm"); return p.fragments[0] }(), "frame type SOF3 is not sequential"},
	} {
		err := decodeExtendedJPEG(tc.data, 32, 24, 1, make([]byte, 32*24*2))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func FuzzDecodeExtendedJPEG(f *testing.F) {
	_, px := dicomCorpusFile(f, "jpeg_extended12.dcm")
	f.Add(px.fragments[0], 32, 24)
	f.Fuzz(func(t *testing.T, data []byte, w, h int) {
		if w <= 0 || h <= 0 || w*h > 1<<16 {
			return
		}
		for _, nc := range []int{1, 3} {
			_ = decodeExtendedJPEG(data, w, h, nc, make([]byte, w*h*nc*2))
		}
	})
}

// encodeLosslessJPEG writes a grey 8-bit lossless JPEG (selection value 1)
// with a restart interval of restartRows rows, and a Huffman table in which
// each of the 17 difference categories has a 5-bit code. No tool at hand
// writes restart intervals into lossless JPEG, so this is the one stream
// the tests make themselves; it checks what the corpus cannot: the
// predictor reset and marker handling at each RST.
func encodeLosslessJPEG(px []uint8, w, h, restartRows int) []byte {
	out := []byte{0xFF, 0xD8, 0xFF, 0xC3, 0, 11, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 1, 1, 0x11, 0}
	dht := []byte{0xFF, 0xC4, 0, 3 + 16 + 17, 0x00, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for s := range 17 {
		dht = append(dht, byte(s))
	}
	out = append(out, dht...)
	if restartRows > 0 {
		ri := restartRows * w
		out = append(out, 0xFF, 0xDD, 0, 4, byte(ri>>8), byte(ri))
	}
	out = append(out, 0xFF, 0xDA, 0, 8, 1, 1, 0x00, 1, 0, 0)
	var acc uint64
	var n uint
	put := func(v uint64, bits uint) {
		acc, n = acc<<bits|v&(1<<bits-1), n+bits
		for n >= 8 {
			b := byte(acc >> (n - 8))
			out = append(out, b)
			if b == 0xFF {
				out = append(out, 0)
			}
			n -= 8
		}
	}
	flush := func() {
		if n > 0 {
			put(1<<(8-n)-1, 8-n) // pad with ones
		}
	}
	first := 0
	for y := range h {
		if restartRows > 0 && y > 0 && y%restartRows == 0 {
			flush()
			out = append(out, 0xFF, 0xD0+byte((y/restartRows-1)%8))
			first = y
		}
		for x := range w {
			pred := 128
			switch {
			case y == first && x > 0:
				pred = int(px[y*w+x-1])
			case y > first && x == 0:
				pred = int(px[(y-1)*w])
			case y > first:
				pred = int(px[y*w+x-1])
			}
			d := int(px[y*w+x]) - pred
			s, v := 0, d
			for a := max(d, -d); a > 0; a >>= 1 {
				s++
			}
			if d < 0 {
				v = d + 1<<s - 1
			}
			put(uint64(s), 5)
			put(uint64(v), uint(s))
		}
	}
	flush()
	return append(out, 0xFF, 0xD9)
}

func TestLosslessJPEGRestart(t *testing.T) {
	const w, h = 7, 9
	v := patternVideo(1, h, w, 1)
	px := v.Frame(0)
	px[10], px[20] = 255, 0 // a few large differences
	for _, rows := range []int{0, 1, 2, 4} {
		data := encodeLosslessJPEG(px, w, h, rows)
		got := make([]byte, w*h)
		if err := decodeLosslessJPEG(data, w, h, 1, 1, got); err != nil {
			t.Fatalf("restart every %d rows: %v", rows, err)
		}
		if !bytes.Equal(got, px) {
			t.Errorf("restart every %d rows: got %v, want %v", rows, got, px)
		}
	}
	// A missing RST marker is an error.
	data := encodeLosslessJPEG(px, w, h, 2)
	i := bytes.Index(data, []byte{0xFF, 0xD0})
	if err := decodeLosslessJPEG(append(bytes.Clone(data[:i]), data[i+2:]...), w, h, 1, 1, make([]byte, w*h)); err == nil {
		t.Error("no error without an RST marker")
	}
}
