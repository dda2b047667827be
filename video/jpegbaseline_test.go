package video

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testPicture returns a w x h RGB picture (3 bytes a pixel) of flat areas
// (DC-only blocks, as an echo's black background), gradients, edges and
// noise, in proportions drawn from rng.
func testPicture(rng *rand.Rand, w, h int) []uint8 {
	pix := make([]uint8, 3*w*h)
	noise := rng.Float64() * 80
	flat := rng.IntN(3) // 0: none, 1: left half black, 2: a bright square
	fx, fy := rng.Float64()*0.3, rng.Float64()*0.3
	for y := range h {
		for x := range w {
			for k := range 3 {
				v := 128 + 100*math.Sin(fx*float64(x+7*k)+fy*float64(y)) + noise*(rng.Float64()-0.5)
				if (x/5+y/7+k)%9 == 0 {
					v = 255 - v
				}
				switch {
				case flat == 1 && x < w/2:
					v = 0
				case flat == 2 && x > w/4 && x < 3*w/4 && y > h/4 && y < 3*h/4:
					v = 250
				}
				pix[3*(y*w+x)+k] = uint8(max(0, min(255, v)))
			}
		}
	}
	return pix
}

// stdEncode encodes pix (RGB, or its first channel when grey) with
// image/jpeg's encoder (4:2:0 for colour).
func stdEncode(t *testing.T, pix []uint8, w, h int, grey bool, quality int) []byte {
	t.Helper()
	var m image.Image
	if grey {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = pix[3*i]
		}
		m = g
	} else {
		c := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range w * h {
			copy(c.Pix[4*i:], pix[3*i:3*i+3])
			c.Pix[4*i+3] = 255
		}
		m = c
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testJPEG says how encodeTestJPEG writes a stream.
type testJPEG struct {
	sampling []byte // per component, H<<4 | V
	ids      []byte // component ids (default 1, 2, 3)
	ri       int    // restart interval in MCUs (0: no DRI)
	noDHT    bool   // leave the Huffman tables out (Motion JPEG)
	jfif     bool   // write a JFIF APP0 marker
	adobe    int    // -1: no Adobe marker, else its transform flag
	quant    int    // scale of the quantisation table, percent
}

// encodeTestJPEG writes pix (w x h RGB, each component sampled from its
// channel) as a baseline JPEG with the standard Huffman tables, any
// sampling factors and restart intervals, which image/jpeg's encoder does
// not write. The samples are not converted to YCbCr: only decoders'
// agreement is tested with these streams.
func encodeTestJPEG(pix []uint8, w, h int, o testJPEG) []byte {
	nc := len(o.sampling)
	ids := o.ids
	if ids == nil {
		ids = []byte{1, 2, 3}
	}
	var out bytes.Buffer
	seg := func(m byte, p []byte) {
		out.Write([]byte{0xFF, m, byte((len(p) + 2) >> 8), byte(len(p) + 2)})
		out.Write(p)
	}
	out.Write([]byte{0xFF, 0xD8})
	if o.jfif {
		seg(0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))
	}
	if o.adobe >= 0 {
		seg(0xEE, []byte{'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, byte(o.adobe)})
	}
	var q [64]int32
	dqt := []byte{0}
	for k := range 64 {
		q[k] = int32(max(1, min(255, (int(jpegStdQuant[k])*o.quant+50)/100)))
		dqt = append(dqt, byte(q[k]))
	}
	seg(0xDB, dqt)
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(nc)}
	hmax, vmax := 1, 1
	for k := range nc {
		sof = append(sof, ids[k], o.sampling[k], 0)
		hmax, vmax = max(hmax, int(o.sampling[k]>>4)), max(vmax, int(o.sampling[k]&15))
	}
	sampling := o.sampling
	if nc == 1 { // a one-component scan is non-interleaved: one block an MCU
		sampling, hmax, vmax = []byte{0x11}, 1, 1
	}
	seg(0xC0, sof)
	if !o.noDHT {
		out.Write(stdHuffmanTables)
	}
	if o.ri > 0 {
		seg(0xDD, []byte{byte(o.ri >> 8), byte(o.ri)})
	}
	sos := []byte{byte(nc)}
	for k := range nc {
		tab := byte(0x00)
		if k > 0 {
			tab = 0x11
		}
		sos = append(sos, ids[k], tab)
	}
	seg(0xDA, append(sos, 0, 63, 0))

	codes := [4][256]struct{ code, n int }{}
	for i, s := range jpegStdHuff {
		counts, vals := s.def[1:17], s.def[17:]
		code, k := 0, 0
		for l := 1; l <= 16; l++ {
			for range int(counts[l-1]) {
				codes[i][vals[k]] = struct{ code, n int }{code, l}
				code++
				k++
			}
			code <<= 1
		}
	}
	var acc uint64
	var nb int
	put := func(v, n int) {
		acc = acc<<n | uint64(v)&(1<<n-1)
		nb += n
		for nb >= 8 {
			b := byte(acc >> (nb - 8))
			out.WriteByte(b)
			if b == 0xFF {
				out.WriteByte(0)
			}
			nb -= 8
		}
	}
	flush := func() {
		if nb > 0 {
			put(1<<(8-nb)-1, 8-nb)
		}
	}
	bits := func(v int) (int, int) { // size and the extra bits of v
		a, s := v, 0
		if a < 0 {
			a = -a
		}
		for a > 0 {
			s++
			a >>= 1
		}
		if v < 0 {
			v += 1<<s - 1
		}
		return s, v
	}
	var dc [3]int
	mxx, myy := (w+8*hmax-1)/(8*hmax), (h+8*vmax-1)/(8*vmax)
	mcu := 0
	for my := range myy {
		for mx := range mxx {
			if o.ri > 0 && mcu > 0 && mcu%o.ri == 0 {
				flush()
				out.Write([]byte{0xFF, byte(0xD0 + (mcu/o.ri-1)%8)})
				dc = [3]int{}
			}
			mcu++
			for k := range nc {
				hk, vk := int(sampling[k]>>4), int(sampling[k]&15)
				for v := range vk {
					for u := range hk {
						var blk [64]float64
						for y := range 8 {
							for x := range 8 {
								px := ((mx*hk+u)*8 + x) * hmax / hk
								py := ((my*vk+v)*8 + y) * vmax / vk
								px, py = min(px, w-1), min(py, h-1)
								blk[8*y+x] = float64(pix[3*(py*w+px)+k]) - 128
							}
						}
						var coef [64]int
						for zz := range 64 {
							n := int(jpegUnzig[zz])
							fu, fv := n%8, n/8
							s := 0.0
							for y := range 8 {
								for x := range 8 {
									s += blk[8*y+x] * math.Cos(float64(2*x+1)*float64(fu)*math.Pi/16) * math.Cos(float64(2*y+1)*float64(fv)*math.Pi/16)
								}
							}
							cu, cv := 1.0, 1.0
							if fu == 0 {
								cu = 1 / math.Sqrt2
							}
							if fv == 0 {
								cv = 1 / math.Sqrt2
							}
							coef[zz] = int(math.Round(s * cu * cv / 4 / float64(q[zz])))
						}
						t := 0
						if k > 0 {
							t = 2
						}
						s, e := bits(coef[0] - dc[k])
						dc[k] = coef[0]
						c := codes[t][s]
						put(c.code, c.n)
						put(e, s)
						run := 0
						for zz := 1; zz < 64; zz++ {
							if coef[zz] == 0 {
								run++
								continue
							}
							for run > 15 {
								c := codes[t+1][0xF0]
								put(c.code, c.n)
								run -= 16
							}
							s, e := bits(coef[zz])
							c := codes[t+1][run<<4|s]
							put(c.code, c.n)
							put(e, s)
							run = 0
						}
						if run > 0 {
							c := codes[t+1][0]
							put(c.code, c.n)
						}
					}
				}
			}
		}
	}
	flush()
	out.Write([]byte{0xFF, 0xD9})
	return out.Bytes()
}

// jpegStdQuant is the luminance quantisation table of JPEG Annex K.1, in
// zig-zag order.
var jpegStdQuant = [64]byte{
	16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40,
	26, 24, 22, 22, 24, 49, 35, 37, 29, 40, 58, 51, 61, 60, 57, 51,
	56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81, 103,
	62, 77, 68, 68, 92, 103, 104, 120, 92, 101, 112, 100, 113, 121, 103, 99,
}

// checkSameAsStd decodes data with the baseline decoder and with
// image/jpeg (decodeJPEGStd), for C = 1 and 3 and both container hints.
// Where the baseline decoder takes the stream, the pixels must be equal;
// it reports whether it took the stream every time.
func checkSameAsStd(t *testing.T, name string, data []byte, w, h int) (took bool) {
	t.Helper()
	took = true
	for _, c := range []int{1, 3} {
		for _, hint := range []bool{false, true} {
			want := make([]uint8, w*h*c)
			stdErr := decodeJPEGStd(data, want, w, h, c, hint)
			got := make([]uint8, w*h*c)
			err := decodeBaselineJPEG(data, got, w, h, c, hint)
			if err != nil {
				took = false
				continue
			}
			if stdErr != nil {
				t.Errorf("%s C=%d hint=%v: baseline decoder takes a stream image/jpeg refuses (%v)", name, c, hint, stdErr)
				continue
			}
			if i := firstDiff(got, want); i >= 0 {
				t.Errorf("%s C=%d hint=%v: byte %d (pixel %d,%d) is %d, image/jpeg gives %d", name, c, hint, i, i/c%w, i/c/w, got[i], want[i])
			}
		}
	}
	return took
}

// firstDiff returns the first index where a and b differ, or -1.
func firstDiff(a, b []uint8) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// TestBaselineJPEGMatchesImageJPEG checks that the baseline decoder gives
// exactly image/jpeg's pixels (after the package's colour handling) on
// image/jpeg's own encodings, grey and 4:2:0 colour, at qualities from 1 to
// 100 and sizes that are not multiples of 8 or 16.
func TestBaselineJPEGMatchesImageJPEG(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 1))
	n := 0
	for _, q := range []int{1, 5, 25, 50, 75, 90, 95, 100} {
		for _, grey := range []bool{true, false} {
			for range 6 {
				w, h := 1+rng.IntN(70), 1+rng.IntN(50)
				data := stdEncode(t, testPicture(rng, w, h), w, h, grey, q)
				name := fmt.Sprintf("q%d grey=%v %dx%d", q, grey, w, h)
				if !checkSameAsStd(t, name, data, w, h) {
					t.Errorf("%s: the baseline decoder declines image/jpeg's encoding", name)
				}
				n++
			}
		}
	}
	t.Logf("%d streams identical", n)
}

// TestBaselineJPEGSamplingRestart checks the baseline decoder against
// image/jpeg on streams with every sampling image/jpeg takes, restart
// intervals, no Huffman tables and the colour markers.
func TestBaselineJPEGSamplingRestart(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2))
	samplings := [][]byte{
		{0x11}, {0x22}, {0x21}, // grey: image/jpeg ignores a lone component's factors
		{0x11, 0x11, 0x11}, {0x21, 0x11, 0x11}, {0x22, 0x11, 0x11}, {0x12, 0x11, 0x11},
		{0x41, 0x11, 0x11}, {0x42, 0x11, 0x11}, {0x22, 0x21, 0x21}, {0x22, 0x12, 0x12},
	}
	took, declined := 0, 0
	for _, s := range samplings {
		for range 5 {
			o := testJPEG{
				sampling: s, ri: []int{0, 1, 2, 3, 5, 8}[rng.IntN(6)], noDHT: rng.IntN(3) == 0,
				jfif: rng.IntN(2) == 0, adobe: rng.IntN(3) - 1, quant: []int{10, 50, 100, 300}[rng.IntN(4)],
			}
			if len(s) == 3 && rng.IntN(4) == 0 {
				o.ids = []byte("RGB")
			}
			w, h := 1+rng.IntN(60), 1+rng.IntN(40)
			data := encodeTestJPEG(testPicture(rng, w, h), w, h, o)
			name := fmt.Sprintf("%x %+v %dx%d", s, o, w, h)
			// image/jpeg returns RGB streams (by its own test: no JFIF
			// marker, and Adobe transform 0 or ids R, G, B) as raw samples;
			// the baseline decoder leaves those to it.
			rgb := len(s) == 3 && !o.jfif && (o.adobe == 0 || string(o.ids) == "RGB")
			switch ok := checkSameAsStd(t, name, data, w, h); {
			case ok:
				took++
			case rgb:
				declined++
			default:
				t.Errorf("%s: the baseline decoder declines the stream", name)
			}
		}
	}
	if declined == 0 || took == 0 {
		t.Errorf("took %d streams and declined %d: want some of each", took, declined)
	}
}

// TestBaselineJPEGTestdata checks every JPEG stream in the committed AVI
// and DICOM test files: where the baseline decoder takes one, its pixels
// equal image/jpeg's. The Motion JPEG AVIs written by ffmpeg and OpenCV,
// and the JPEG Baseline DICOMs, must be taken.
func TestBaselineJPEGTestdata(t *testing.T) {
	var files []string
	for _, pat := range []string{"testdata/*/*.avi", "testdata/*/*.dcm"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	taken := map[string]int{}
	total := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; ; {
			k := bytes.Index(data[i:], []byte{0xFF, 0xD8, 0xFF})
			if k < 0 {
				break
			}
			i += k
			s := data[i:]
			i += 3
			j, err := parseBaselineJPEG(s)
			if err != nil {
				continue
			}
			if checkSameAsStd(t, fmt.Sprintf("%s@%d", f, i-3), s, j.w, j.h) {
				taken[f]++
				total++
			}
		}
	}
	for _, f := range []string{"testdata/io/ffmpeg_mjpeg.avi", "testdata/io/opencv_mjpg.avi"} {
		if taken[f] == 0 {
			t.Errorf("%s: no frame taken by the baseline decoder", f)
		}
	}
	dcm := 0
	for f, n := range taken {
		if strings.HasSuffix(f, ".dcm") {
			dcm += n
		}
	}
	if dcm < 50 {
		t.Errorf("only %d DICOM JPEG frames taken by the baseline decoder", dcm)
	}
	t.Logf("%d streams in %d files identical", total, len(taken))
}

// TestJPEGIDCTShortcuts checks the IDCT's shortcuts (rows without AC
// coefficients, only the first row non-zero, DC only) against the full
// transform, over the whole range of dequantized DC values 8-bit tables
// give and random sparse blocks.
func TestJPEGIDCTShortcuts(t *testing.T) {
	full := func(b [64]int32) [64]int32 {
		jpegIDCT(&b, 0xFF, 0xFF)
		return b
	}
	for dc := int32(-2048 * 255); dc <= 2047*255; dc++ {
		var b [64]int32
		b[0] = dc
		want := full(b)
		jpegIDCT(&b, 1, 0)
		if b != want {
			t.Fatalf("DC %d: shortcut %v, full %v", dc, b[:8], want[:8])
		}
		if v := ((dc<<17 + 1<<19) >> 2) >> 18; v != want[0] || v != want[63] {
			t.Fatalf("DC %d: put's DC-only value %d, full %d", dc, v, want[0])
		}
	}
	rng := rand.New(rand.NewPCG(15, 3))
	for range 200000 {
		var b [64]int32
		var rows, acRows uint8
		for range rng.IntN(6) {
			z := rng.IntN(64)
			if rng.IntN(2) == 0 {
				z &^= 7 // column 0
			}
			if rng.IntN(2) == 0 {
				z &= 7 // row 0
			}
			b[z] = int32(rng.IntN(4001)-2000) * int32(1+rng.IntN(60))
			rows |= 1 << (z >> 3)
			if z&7 != 0 {
				acRows |= 1 << (z >> 3)
			}
		}
		want := full(b)
		jpegIDCT(&b, rows|1, acRows)
		if b != want {
			t.Fatalf("rows %08b acRows %08b: shortcut differs", rows, acRows)
		}
	}
}

// TestBaselineJPEGDeclines checks that the baseline decoder leaves to
// image/jpeg the streams it does not decode: other processes, damaged or
// truncated data, more than one scan, a size other than the container's.
func TestBaselineJPEGDeclines(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 4))
	pix := testPicture(rng, 40, 24)
	var buf bytes.Buffer
	g := image.NewGray(image.Rect(0, 0, 40, 24))
	for i := range g.Pix {
		g.Pix[i] = pix[3*i]
	}
	if err := jpeg.Encode(&buf, g, nil); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	dst := make([]uint8, 40*24)
	if err := decodeBaselineJPEG(good, dst, 40, 24, 1, false); err != nil {
		t.Fatalf("a plain image/jpeg stream: %v", err)
	}
	sof := bytes.Index(good, []byte{0xFF, 0xC0})
	sos := bytes.Index(good, []byte{0xFF, 0xDA})
	cases := map[string][]byte{
		"progressive":  replaceAt(good, sof+1, 0xC2),
		"arithmetic":   replaceAt(good, sof+1, 0xC9),
		"lossless":     replaceAt(good, sof+1, 0xC3),
		"12-bit":       replaceAt(good, sof+4, 12),
		"truncated":    good[:len(good)-40],
		"no EOI":       good[:len(good)-2],
		"two scans":    append(bytes.Clone(good[:len(good)-2]), good[sos:]...),
		"no SOI":       good[2:],
		"wrong size":   nil, // below
		"empty":        {},
		"marker in it": append(append(bytes.Clone(good[:sos+40]), 0xFF, 0xC4), good[sos+42:]...),
	}
	for name, data := range cases {
		w := 40
		if name == "wrong size" {
			data, w = good, 41
		}
		d := make([]uint8, w*24)
		err := decodeBaselineJPEG(data, d, w, 24, 1, false)
		if err == nil {
			t.Errorf("%s: taken", name)
		} else if !errors.Is(err, errJPEGFallback) {
			t.Errorf("%s: %v, want errJPEGFallback", name, err)
		}
	}
	// Through decodeJPEGHint a declined stream still decodes (image/jpeg)
	// or fails as before.
	if err := decodeJPEGHint(good[:len(good)-40], dst, 40, 24, 1, false); err == nil {
		t.Error("a truncated stream decodes")
	}
}

func replaceAt(b []byte, i int, v byte) []byte {
	b = bytes.Clone(b)
	b[i] = v
	return b
}

// FuzzBaselineJPEG checks that the baseline decoder never panics, that it
// allocates only what the data can fill (its size check), and that a
// stream it takes decodes to exactly image/jpeg's pixels.
func FuzzBaselineJPEG(f *testing.F) {
	rng := rand.New(rand.NewPCG(15, 5))
	for _, o := range []testJPEG{
		{sampling: []byte{0x11}, adobe: -1, quant: 50, ri: 2},
		{sampling: []byte{0x22, 0x11, 0x11}, adobe: -1, quant: 50, jfif: true, ri: 1},
		{sampling: []byte{0x21, 0x11, 0x11}, adobe: 1, quant: 100, noDHT: true},
	} {
		f.Add(encodeTestJPEG(testPicture(rng, 19, 13), 19, 13, o))
	}
	pix := testPicture(rng, 17, 9)
	g := image.NewGray(image.Rect(0, 0, 17, 9))
	for i := range g.Pix {
		g.Pix[i] = pix[3*i]
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, g, &jpeg.Options{Quality: 80}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := parseBaselineJPEG(data)
		if err != nil {
			return
		}
		if int64((j.w+7)/8)*int64((j.h+7)/8) > 8*int64(len(data)) {
			// decodeBaselineJPEG refuses these before allocating; so does
			// jpegInfo for its callers.
			if decodeBaselineJPEG(data, nil, j.w, j.h, 1, false) == nil {
				t.Fatal("took a stream too short for its size")
			}
			return
		}
		if j.w*j.h > 1<<16 {
			return // large pictures make the fuzzer slow, not the test stronger
		}
		checkSameAsStd(t, "fuzz", data, j.w, j.h)
	})
}

// benchJPEGFrame returns frame 10 of an echosynth-like 112x112 grey
// picture set encoded by image/jpeg at quality 90 (the benchmark video's
// setting), and its size.
func benchJPEGFrame(b *testing.B) []byte {
	b.Helper()
	rng := rand.New(rand.NewPCG(15, 6))
	pix := testPicture(rng, 112, 112)
	g := image.NewGray(image.Rect(0, 0, 112, 112))
	for i := range g.Pix {
		g.Pix[i] = pix[3*i]
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, g, &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkBaselineJPEG112 measures the baseline decoder on one 112x112
// grey frame in memory.
func BenchmarkBaselineJPEG112(b *testing.B) {
	data := benchJPEGFrame(b)
	dst := make([]uint8, 112*112)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := decodeBaselineJPEG(data, dst, 112, 112, 1, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStdJPEG112 measures image/jpeg (decodeJPEGStd) on the same
// frame.
func BenchmarkStdJPEG112(b *testing.B) {
	data := benchJPEGFrame(b)
	dst := make([]uint8, 112*112)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := decodeJPEGStd(data, dst, 112, 112, 1, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJPEGIDCT measures the IDCT of a block with every row non-zero.
func BenchmarkJPEGIDCT(b *testing.B) {
	var src [64]int32
	for i := range src {
		src[i] = int32(i*37%61) - 30
	}
	for b.Loop() {
		blk := src
		jpegIDCT(&blk, 0xFF, 0xFF)
	}
}

// TestIDCTPutAVX2 checks the assembly IDCT against jpegIDCT and jpegClip
// on random blocks of every density and on extreme values (the saturating
// level shift and clipping).
func TestIDCTPutAVX2(t *testing.T) {
	if !jpegAVX2 {
		t.Log("no AVX2: checking the Go version")
	}
	rng := rand.New(rand.NewPCG(15, 7))
	for i := range 300000 {
		var b [64]int32
		switch i % 4 {
		case 0: // dense, moderate (quality 90 dequantized)
			for k := range b {
				b[k] = int32(rng.IntN(801) - 400)
			}
		case 1: // sparse
			for range 1 + rng.IntN(8) {
				b[rng.IntN(64)] = int32(rng.IntN(4001)-2000) * int32(1+rng.IntN(100))
			}
		case 2: // any int32 (overflowing arithmetic, wrapping alike)
			for k := range b {
				b[k] = int32(rng.Uint32())
			}
		default: // large, near the clipping
			for k := range b {
				b[k] = int32(rng.IntN(1<<17) - 1<<16)
			}
		}
		want := b
		jpegIDCT(&want, 0xFF, 0xFF)
		var got, exp [8 * 11]uint8 // rows 11 bytes apart
		for k := range got {
			got[k], exp[k] = 0xA5, 0xA5 // the bytes between rows must stay
		}
		for y := range 8 {
			for x := range 8 {
				exp[11*y+x] = jpegClip(want[8*y+x])
			}
		}
		in := b
		idctPutAVX2(&in, got[:7*11+8], 11)
		if in != b {
			t.Fatal("idctPutAVX2 changed its block")
		}
		if got != exp {
			t.Fatalf("block %d (%v):\ngot  %v\nwant %v", i, b, got, exp)
		}
	}
}

// TestBaselineJPEGManyTables checks that a stream defining Huffman tables
// over and over (3,000 definitions in one 64 kB segment) costs no more
// memory than its size suggests: only the tables the scan uses are built.
func TestBaselineJPEGManyTables(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 9))
	data := encodeTestJPEG(testPicture(rng, 16, 16), 16, 16, testJPEG{sampling: []byte{0x11}, adobe: -1, quant: 50})
	// One AC table, not the standard one: a single code of length 2.
	def := append([]byte{0x10, 0, 1}, make([]byte, 14)...)
	def = append(def, 0x01)
	var seg []byte
	for len(seg)+len(def) < 65000 {
		seg = append(seg, def...)
	}
	dht := append([]byte{0xFF, 0xC4, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
	sof := bytes.Index(data, []byte{0xFF, 0xC0})
	data = append(append(bytes.Clone(data[:sof]), dht...), data[sof:]...)
	dst := make([]uint8, 16*16)
	n := allocatedBy(func() {
		for range 10 {
			decodeBaselineJPEG(data, dst, 16, 16, 1, false) // the standard tables follow; its result does not matter
		}
	})
	if per := n / 10; per > 64<<10 {
		t.Errorf("decoding allocates %d bytes for a %d-byte stream", per, len(data))
	}
}
