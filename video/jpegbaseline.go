package video

import (
	"errors"
	"image"
)

// This file is a decoder for the JPEG streams Motion JPEG AVIs and JPEG
// Baseline DICOMs hold: one sequential, 8-bit, Huffman-coded scan of one
// (grey) or three (YCbCr) interleaved components. It gives exactly the
// samples image/jpeg gives (it runs image/jpeg's integer IDCT: jpegidct.go,
// and the same arithmetic in AVX2 assembly, jpegidct_amd64.s), several
// times faster: a 64-bit bit buffer, Huffman look-up tables that decode a
// code and, for AC coefficients, its extra bits in one step, a shortcut for
// DC-only blocks (an echo's black background), and grey samples written
// straight into the video's frame.
//
// It takes on only what it can decode exactly as image/jpeg does; anything
// else (progressive, arithmetic, 12-bit, lossless, several scans, RGB or
// CMYK streams, damaged data) makes it give up, and decodeJPEGHint then
// decodes the frame with image/jpeg, which gives the same pixels or the error
// it always gave.

// errJPEGFallback is why decodeBaselineJPEG declines a stream; the caller
// decodes it with image/jpeg instead.
var errJPEGFallback = errors.New("JPEG: not a stream the baseline decoder takes")

// jpegLookBits is how many bits the Huffman look-up tables index.
const jpegLookBits = 11

// jpegHuff is a Huffman table ready for decoding.
type jpegHuff struct {
	// lut[b], for the next jpegLookBits bits b, is value<<8 | length of the
	// code they begin with, or 0 when the code is longer.
	lut [1 << jpegLookBits]uint16
	// ac[b], for an AC table, decodes the code and, when they fit, its
	// extra bits at once (see jpegACEntry); 0 when the code is longer.
	ac [1 << jpegLookBits]int32
	// maxCode[l] is the largest code of length l (-1 when none); code c of
	// length l is value vals[valOff[l]+c].
	maxCode [17]int32
	valOff  [17]int32
	vals    [256]uint8
}

// jpegStdHuff holds the tables of JPEG Annex K.3 (class<<4 | id order: DC 0,
// AC 0, DC 1, AC 1), built once, and the DHT bytes that define each, so
// that a stream that repeats them (image/jpeg's encoder does) or leaves them
// out (Motion JPEG) needs no tables built.
var jpegStdHuff = func() (t [4]struct {
	def  []byte // Tc<<4|Th, the 16 counts, the values
	huff *jpegHuff
}) {
	seg := stdHuffmanTables[4:]
	for i := range t {
		n := 17
		for _, c := range seg[1:17] {
			n += int(c)
		}
		t[i].def = seg[:n]
		h, err := buildJPEGHuff(seg[1:17], seg[17:n], seg[0]>>4 == 1)
		if err != nil {
			panic("video: standard Huffman tables: " + err.Error())
		}
		t[i].huff = h
		seg = seg[n:]
	}
	return t
}()

// buildJPEGHuff builds the table of the 16 code counts and their values. It
// refuses tables that are not a prefix code (image/jpeg reads those in its
// own way).
func buildJPEGHuff(counts, vals []byte, ac bool) (*jpegHuff, error) {
	h := &jpegHuff{}
	total := 0
	for _, c := range counts {
		total += int(c)
	}
	if total == 0 || total > 256 || len(vals) != total {
		return nil, errJPEGFallback
	}
	copy(h.vals[:], vals)
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		h.maxCode[l] = -1
		if n > 0 {
			if code+n > 1<<l {
				return nil, errJPEGFallback // over-subscribed
			}
			h.valOff[l] = k - code
			h.maxCode[l] = code + n - 1
		}
		for range n {
			if l <= jpegLookBits {
				sym := vals[k]
				shift := jpegLookBits - l
				for b := code << shift; b < (code+1)<<shift; b++ {
					h.lut[b] = uint16(sym)<<8 | uint16(l)
					if ac {
						h.ac[b] = jpegACEntry(sym, l, b, shift)
					}
				}
			}
			code++
			k++
		}
		code <<= 1
	}
	return h, nil
}

// jpegComponent is one component of a frame and its place in the scan.
type jpegComponent struct {
	id, h, v, tq byte
	dc, ac       *jpegHuff
}

// baselineJPEG is the header of a stream decodeBaselineJPEG takes.
type baselineJPEG struct {
	w, h     int
	nc       int
	comp     [3]jpegComponent // in scan order
	quant    [4][64]int32     // zig-zag order
	ri       int              // restart interval, in MCUs
	jfif     bool             // image/jpeg's JFIF test (5 bytes)
	adobe    bool             // an Adobe APP14 marker ...
	adobeXf  byte             // ... and its transform flag
	frameIDs [3]byte          // component ids in frame order
	scan     int              // offset of the entropy-coded data
	ratio    image.YCbCrSubsampleRatio
}

// parseBaselineJPEG reads the markers of data up to its scan, refusing
// (errJPEGFallback) what it does not decode exactly as image/jpeg does.
func parseBaselineJPEG(data []byte) (*baselineJPEG, error) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, errJPEGFallback
	}
	var (
		j       baselineJPEG
		huff    [2][4]*jpegHuff // built tables, by class and id
		defs    [2][4][]byte    // definitions of those not built yet
		anyDHT  bool
		sof     bool
		frame   [3]jpegComponent
		hasQuan [4]bool
	)
	i := 2
	for {
		if i+2 > len(data) || data[i] != 0xFF {
			return nil, errJPEGFallback
		}
		m := data[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		if m == 0xD8 || m == 0xD9 || m == 0x01 || (m >= 0xD0 && m <= 0xD7) || m == 0 {
			return nil, errJPEGFallback
		}
		if i+4 > len(data) {
			return nil, errJPEGFallback
		}
		n := int(data[i+2])<<8 | int(data[i+3])
		if n < 2 || i+2+n > len(data) {
			return nil, errJPEGFallback
		}
		p := data[i+4 : i+2+n]
		i += 2 + n
		switch {
		case m == 0xC0 || m == 0xC1: // baseline, or extended sequential Huffman
			if sof || (len(p) != 6+3 && len(p) != 6+9) || p[0] != 8 {
				return nil, errJPEGFallback
			}
			sof = true
			j.h, j.w, j.nc = int(p[1])<<8|int(p[2]), int(p[3])<<8|int(p[4]), int(p[5])
			if j.nc*3+6 != len(p) || j.w == 0 || j.h == 0 {
				return nil, errJPEGFallback
			}
			for k := range j.nc {
				c := &frame[k]
				c.id, c.h, c.v, c.tq = p[6+3*k], p[7+3*k]>>4, p[7+3*k]&15, p[8+3*k]
				j.frameIDs[k] = c.id
				for _, o := range frame[:k] {
					if o.id == c.id {
						return nil, errJPEGFallback
					}
				}
				if c.tq > 3 || c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.h == 3 || c.v == 3 {
					return nil, errJPEGFallback
				}
			}
			if j.nc == 1 {
				frame[0].h, frame[0].v = 1, 1 // image/jpeg ignores a lone component's sampling
			} else {
				y, cb, cr := frame[0], frame[1], frame[2]
				if y.v == 4 || y.h%cb.h != 0 || y.v%cb.v != 0 || cr.h != cb.h || cr.v != cb.v {
					return nil, errJPEGFallback
				}
				switch (y.h/cb.h)<<4 | y.v/cb.v {
				case 0x11:
					j.ratio = image.YCbCrSubsampleRatio444
				case 0x12:
					j.ratio = image.YCbCrSubsampleRatio440
				case 0x21:
					j.ratio = image.YCbCrSubsampleRatio422
				case 0x22:
					j.ratio = image.YCbCrSubsampleRatio420
				case 0x41:
					j.ratio = image.YCbCrSubsampleRatio411
				case 0x42:
					j.ratio = image.YCbCrSubsampleRatio410
				default:
					return nil, errJPEGFallback
				}
			}
		case m == 0xC4:
			anyDHT = true
			for len(p) > 0 {
				if len(p) < 17 {
					return nil, errJPEGFallback
				}
				tc, th := p[0]>>4, p[0]&15
				if tc > 1 || th > 1 {
					return nil, errJPEGFallback
				}
				total := 0
				for _, c := range p[1:17] {
					total += int(c)
				}
				if len(p) < 17+total {
					return nil, errJPEGFallback
				}
				def := p[:17+total]
				p = p[17+total:]
				if total == 0 || total > 256 {
					return nil, errJPEGFallback // image/jpeg refuses it
				}
				// Tables are built at the scan, only those it uses, so that
				// many definitions in little data cost no more than it.
				huff[tc][th], defs[tc][th] = nil, def
				std := jpegStdHuff[int(th)<<1|int(tc)]
				if string(def) == string(std.def) {
					huff[tc][th], defs[tc][th] = std.huff, nil
				}
			}
		case m == 0xDB:
			for len(p) > 0 {
				pq, tq := p[0]>>4, p[0]&15
				if tq > 3 || pq > 1 || len(p) < 1+64<<pq {
					return nil, errJPEGFallback
				}
				for k := range 64 {
					if pq == 0 {
						j.quant[tq][k] = int32(p[1+k])
					} else {
						j.quant[tq][k] = int32(p[1+2*k])<<8 | int32(p[2+2*k])
					}
				}
				hasQuan[tq] = true
				p = p[1+64<<pq:]
			}
		case m == 0xDD:
			if len(p) != 2 {
				return nil, errJPEGFallback
			}
			j.ri = int(p[0])<<8 | int(p[1])
		case m == 0xE0:
			if len(p) >= 5 {
				j.jfif = string(p[:5]) == "JFIF\x00"
			}
		case m == 0xEE:
			if len(p) >= 12 && string(p[:5]) == "Adobe" {
				j.adobe, j.adobeXf = true, p[11]
			}
		case m > 0xE0 && m <= 0xEF || m == 0xFE: // other APPn, COM
		case m == 0xDA:
			if !sof || len(p) < 1 || int(p[0]) != j.nc || len(p) != 4+2*j.nc {
				return nil, errJPEGFallback
			}
			if !anyDHT { // Motion JPEG: the standard tables (see withHuffmanTables)
				for k, s := range jpegStdHuff {
					huff[k&1][k>>1] = s.huff
				}
			}
			var used [3]bool
			for k := range j.nc {
				id, td, ta := p[1+2*k], p[2+2*k]>>4, p[2+2*k]&15
				f := -1
				for x := range j.nc {
					if frame[x].id == id {
						f = x
					}
				}
				if f < 0 || used[f] || td > 1 || ta > 1 || !hasQuan[frame[f].tq] {
					return nil, errJPEGFallback
				}
				for _, x := range [2][2]byte{{0, td}, {1, ta}} {
					if d := defs[x[0]][x[1]]; huff[x[0]][x[1]] == nil && d != nil {
						h, err := buildJPEGHuff(d[1:17], d[17:], x[0] == 1)
						if err != nil {
							return nil, err
						}
						huff[x[0]][x[1]], defs[x[0]][x[1]] = h, nil
					}
				}
				if huff[0][td] == nil || huff[1][ta] == nil {
					return nil, errJPEGFallback
				}
				used[f] = true
				c := frame[f]
				c.dc, c.ac = huff[0][td], huff[1][ta]
				j.comp[k] = c
			}
			if j.nc == 3 {
				if j.isRGB() {
					return nil, errJPEGFallback // image/jpeg returns raw samples; left to it
				}
				if hv := int(frame[0].h*frame[0].v) + 2*int(frame[1].h*frame[1].v); hv > 10 {
					return nil, errJPEGFallback
				}
				// The Y plane is written by component position; keep frame order.
				if j.comp[0].id != frame[0].id {
					return nil, errJPEGFallback
				}
			}
			j.scan = i
			return &j, nil
		default:
			return nil, errJPEGFallback
		}
	}
}

// isRGB is image/jpeg's test for a 3-component stream of RGB samples.
func (j *baselineJPEG) isRGB() bool {
	switch {
	case j.jfif:
		return false
	case j.adobe && j.adobeXf == 0:
		return true
	}
	return string(j.frameIDs[:]) == "RGB"
}

// decodeBaselineJPEG decodes data into dst (h*w*c bytes) as
// decodeJPEGHint does, or returns an error, errJPEGFallback or another,
// when the stream is one to leave to image/jpeg. dst may be written to
// either way.
func decodeBaselineJPEG(data []byte, dst []uint8, w, h, c int, rgbHint bool) error {
	j, err := parseBaselineJPEG(data)
	if err != nil {
		return err
	}
	if j.w != w || j.h != h || len(dst) != w*h*c || (c != 1 && c != 3) {
		return errJPEGFallback
	}
	if int64((w+7)/8)*int64((h+7)/8) > 8*int64(len(data)) {
		return errJPEGFallback // more blocks than the data can code
	}
	if j.nc == 1 {
		out := jpegPlane{pix: dst[:w*h], stride: w, w: w, h: h}
		if err := j.decodeScan(data, [3]jpegPlane{out}); err != nil {
			return err
		}
		if c == 3 { // replicate grey into R, G, B, from the end
			for i := w*h - 1; i >= 0; i-- {
				g := dst[i]
				dst[3*i], dst[3*i+1], dst[3*i+2] = g, g, g
			}
		}
		return nil
	}
	hdr := scanJPEGHeader(data)
	hdr.rgbHint = rgbHint
	if c == 1 && !hdr.rgb() {
		// Only the luma is wanted: write it straight into dst and leave
		// the chroma blocks undecoded beyond their Huffman codes.
		out := jpegPlane{pix: dst, stride: w, w: w, h: h}
		return j.decodeScan(data, [3]jpegPlane{out, {}, {}})
	}
	// As image/jpeg's makeImg: planes padded to whole MCUs.
	y := j.comp[0]
	mxx, myy := (w+8*int(y.h)-1)/(8*int(y.h)), (h+8*int(y.v)-1)/(8*int(y.v))
	m := image.NewYCbCr(image.Rect(0, 0, 8*int(y.h)*mxx, 8*int(y.v)*myy), j.ratio)
	planes := [3]jpegPlane{
		{pix: m.Y, stride: m.YStride, w: 8 * int(y.h) * mxx, h: 8 * int(y.v) * myy},
		{pix: m.Cb, stride: m.CStride, w: m.CStride, h: len(m.Cb) / m.CStride},
		{pix: m.Cr, stride: m.CStride, w: m.CStride, h: len(m.Cr) / m.CStride},
	}
	if err := j.decodeScan(data, planes); err != nil {
		return err
	}
	img := withJPEGColour(m.SubImage(image.Rect(0, 0, w, h)), hdr)
	copyImage(dst, img, c)
	return nil
}

// jpegPlane is where one component's samples go: w x h of pix, rows stride
// apart; blocks are clipped to it. A nil pix discards the component.
type jpegPlane struct {
	pix          []uint8
	stride, w, h int
}

// decodeScan decodes the entropy-coded data of the scan into planes, one
// per component in frame order (scan order equals frame order for the Y
// component; Cb and Cr are matched by their frame position).
func (j *baselineJPEG) decodeScan(data []byte, planes [3]jpegPlane) error {
	// Map scan order to frame position (the plane index).
	var planeOf [3]int
	for k := range j.nc {
		for f := range j.nc {
			if j.frameIDs[f] == j.comp[k].id {
				planeOf[k] = f
			}
		}
	}
	mxx, myy := (j.w+7)/8, (j.h+7)/8
	if j.nc == 3 {
		mxx = (j.w + 8*int(j.comp[0].h) - 1) / (8 * int(j.comp[0].h))
		myy = (j.h + 8*int(j.comp[0].v) - 1) / (8 * int(j.comp[0].v))
	}
	br := jpegBits{data: data, pos: j.scan}
	var (
		dc  [3]int32
		blk [64]int32
	)
	mcu, rst := 0, byte(0xD0)
	for my := range myy {
		for mx := range mxx {
			for k := range j.nc {
				comp := &j.comp[k]
				q := &j.quant[comp.tq]
				pl := &planes[planeOf[k]]
				for v := range int(comp.v) {
					for u := range int(comp.h) {
						delta, err := br.decodeDC(comp.dc)
						if err != nil {
							return err
						}
						dc[k] += delta
						if pl.pix == nil {
							if err := br.skipAC(comp.ac); err != nil {
								return err
							}
							continue
						}
						blk[0] = dc[k] * q[0]
						ac, err := br.decodeAC(comp.ac, q, &blk)
						if err != nil {
							return err
						}
						bx, by := 8*(int(comp.h)*mx+u), 8*(int(comp.v)*my+v)
						pl.put(&blk, bx, by, ac)
					}
				}
			}
			if br.n < br.pad {
				return errJPEGFallback // the scan ran past its data
			}
			mcu++
			if j.ri > 0 && mcu%j.ri == 0 && mcu < mxx*myy {
				if err := br.restart(rst); err != nil {
					return err
				}
				rst = 0xD0 + (rst+1)&7
				dc = [3]int32{}
			}
		}
	}
	return br.end()
}

// put writes the block b (dequantized coefficients, natural order) at
// (bx, by): the inverse DCT, level shift and clipping of image/jpeg. ac
// says whether b may hold a non-zero AC coefficient. b is left zero.
func (pl *jpegPlane) put(b *[64]int32, bx, by int, ac bool) {
	if bx >= pl.w || by >= pl.h {
		clear(b[:])
		return
	}
	bw, bh := min(8, pl.w-bx), min(8, pl.h-by)
	if !ac {
		// DC only: image/jpeg's IDCT gives every sample this value.
		v := ((b[0]<<17 + 1<<19) >> 2) >> 18
		b[0] = 0
		s := jpegClip(v)
		for y := range bh {
			row := pl.pix[(by+y)*pl.stride+bx:][:bw]
			for x := range row {
				row[x] = s
			}
		}
		return
	}
	if jpegAVX2 && bw == 8 && bh == 8 {
		o := by*pl.stride + bx
		idctPutAVX2(b, pl.pix[o:o+7*pl.stride+8], pl.stride)
		clear(b[:])
		return
	}
	// The rows that hold a non-zero coefficient, and those with one in a
	// column other than 0, for jpegIDCT's shortcuts.
	var rows, acRows uint8
	for r := range 8 {
		row := b[8*r : 8*r+8]
		if row[1]|row[2]|row[3]|row[4]|row[5]|row[6]|row[7] != 0 {
			acRows |= 1 << r
			rows |= 1 << r
		} else if row[0] != 0 {
			rows |= 1 << r
		}
	}
	jpegIDCT(b, rows|1, acRows)
	for y := range bh {
		row := pl.pix[(by+y)*pl.stride+bx:][:bw]
		src := b[8*y:][:8]
		for x := range row {
			row[x] = jpegClip(src[x])
		}
	}
	clear(b[:])
}

// jpegClip is image/jpeg's level shift and clipping of an IDCT output.
func jpegClip(c int32) uint8 {
	return uint8(min(max(c, -128), 127) + 128)
}

// jpegUnzig maps zig-zag order to natural order, with 16 extra entries for
// a run that overshoots (never stored).
var jpegUnzig = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

// jpegBits reads the entropy-coded data of a scan: acc holds n bits, the
// next one at the top. Past a marker or the end of the data it feeds zero
// bits, counting them in pad; a scan that uses them is refused.
type jpegBits struct {
	data []byte
	pos  int
	acc  uint64
	n    uint
	pad  uint
}

// fill tops acc up to at least 57 bits.
func (br *jpegBits) fill() {
	acc, n, pos, data := br.acc, br.n, br.pos, br.data
	// Whole bytes at a time while no 0xFF is among the next eight.
	if pos+8 <= len(data) {
		w := uint64(data[pos])<<56 | uint64(data[pos+1])<<48 | uint64(data[pos+2])<<40 | uint64(data[pos+3])<<32 |
			uint64(data[pos+4])<<24 | uint64(data[pos+5])<<16 | uint64(data[pos+6])<<8 | uint64(data[pos+7])
		// A byte of w is 0xFF where the same byte of ^w is zero.
		x := ^w
		if (x-0x0101010101010101)&^x&0x8080808080808080 == 0 {
			k := (63 - n) >> 3 // bytes that fit
			acc |= w >> n &^ (1<<(64-n-8*k) - 1)
			br.acc, br.n, br.pos = acc, n+8*k, pos+int(k)
			return
		}
	}
	for n <= 56 {
		var b byte
		if pos < len(data) && data[pos] != 0xFF {
			b = data[pos]
			pos++
		} else if pos+1 < len(data) && data[pos+1] == 0 {
			b = 0xFF
			pos += 2
		} else {
			br.pad += 8 // a marker, or the end: zeros
		}
		acc |= uint64(b) << (56 - n)
		n += 8
	}
	br.acc, br.n, br.pos = acc, n, pos
}

// decode returns the next Huffman-coded value of table t.
func (br *jpegBits) decode(t *jpegHuff) (uint8, error) {
	if br.n < 16 {
		br.fill()
	}
	if e := t.lut[br.acc>>(64-jpegLookBits)]; e != 0 {
		l := uint(e & 0xFF)
		br.acc <<= l
		br.n -= l
		return uint8(e >> 8), nil
	}
	for l := jpegLookBits + 1; l <= 16; l++ {
		code := int32(br.acc >> (64 - l))
		if code <= t.maxCode[l] {
			br.acc <<= uint(l)
			br.n -= uint(l)
			return t.vals[uint8(t.valOff[l]+code)], nil
		}
	}
	return 0, errJPEGFallback // no such code
}

// receive returns the next s bits (s <= 16) as a signed value (JPEG F.2.2.1,
// EXTEND).
func (br *jpegBits) receive(s uint) int32 {
	if br.n < s {
		br.fill()
	}
	v := int32(br.acc >> (64 - s))
	br.acc <<= s
	br.n -= s
	if s > 0 && v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

// decodeDC returns the next DC difference.
func (br *jpegBits) decodeDC(t *jpegHuff) (int32, error) {
	s, err := br.decode(t)
	if err != nil {
		return 0, err
	}
	if s > 11 {
		return 0, errJPEGFallback
	}
	return br.receive(uint(s)), nil
}

// decodeAC decodes a block's AC coefficients into b, dequantized by q, in
// natural order (b must hold zeros there), as image/jpeg does. It reports
// whether it stored any (possibly zero) AC coefficient. A run past the
// block's end
// before a coefficient (which image/jpeg reads in its own way) is left to
// image/jpeg.
func (br *jpegBits) decodeAC(t *jpegHuff, q *[64]int32, b *[64]int32) (ac bool, err error) {
	acc, n := br.acc, br.n
	last := 0
	for k := 1; k < 64; {
		// Every step uses at most 31 bits (a 16-bit code, 15 extra bits).
		if n < 32 {
			br.acc, br.n = acc, n
			br.fill()
			acc, n = br.acc, br.n
		}
		e := t.ac[acc>>(64-jpegLookBits)]
		var run int
		var s uint
		var v int32
		if e != 0 {
			l := uint(e & 31)
			acc <<= l
			n -= l
			if e&jpegEOB != 0 {
				break
			}
			run, s, v = int(e>>8&15), uint(e>>12&15), e>>16
		} else { // a code longer than the tables index
			br.acc, br.n = acc, n
			rs, err := br.decode(t)
			if err != nil {
				return false, err
			}
			acc, n = br.acc, br.n
			run, s = int(rs>>4), uint(rs&15)
			if s == 0 && run != 15 {
				if run != 0 {
					return false, errJPEGFallback // image/jpeg reads an EOB run
				}
				break
			}
		}
		k += run
		if k > 63 {
			if s != 0 || v != 0 {
				return false, errJPEGFallback
			}
			break // a zero run past the end
		}
		if s != 0 { // the extra bits, not in the table entry
			v = int32(acc >> (64 - s))
			acc <<= s
			n -= s
			if v < 1<<(s-1) {
				v += -1<<s + 1
			}
		}
		b[jpegUnzig[k&63]&63] = v * q[k&63]
		last = k
		k++
	}
	br.acc, br.n = acc, n
	return last > 0, nil
}

// jpegEOB marks the entries of jpegHuff.ac that are an end of block.
const jpegEOB = 1 << 5

// jpegACEntry is the jpegHuff.ac entry for the index b whose first l bits
// (of jpegLookBits; shift is jpegLookBits-l) are the code of the AC value
// sym: bits 0-4 the bits it uses, bit 5 an end of block, bits 8-11 the
// zero run, and either bits 12-15 the size of the extra bits still to read
// or bits 16-31 the coefficient, read from b.
func jpegACEntry(sym byte, l int, b int32, shift int) int32 {
	run, size := int32(sym>>4), int(sym&15)
	switch {
	case sym == 0:
		return jpegEOB | int32(l)
	case size == 0 && run != 15:
		return 0 // an EOB run: the slow path refuses it
	case l+size <= jpegLookBits:
		v := int32(0)
		if size > 0 {
			v = b >> (shift - size) & (1<<size - 1)
			if v < 1<<(size-1) {
				v += -1<<size + 1
			}
		}
		return v<<16 | run<<8 | int32(l+size)
	}
	return int32(size)<<12 | run<<8 | int32(l)
}

// skipAC reads past a block's AC coefficients, as decodeAC does.
func (br *jpegBits) skipAC(t *jpegHuff) error {
	var b [64]int32
	_, err := br.decodeAC(t, &jpegOnes, &b)
	return err
}

// jpegOnes is a quantisation table of ones.
var jpegOnes = func() (q [64]int32) {
	for i := range q {
		q[i] = 1
	}
	return q
}()

// restart discards the bits left and reads past the restart marker
// 0xFF rst, skipping stray bytes before it as image/jpeg does (findRST).
func (br *jpegBits) restart(rst byte) error {
	if br.n < br.pad {
		return errJPEGFallback
	}
	br.acc, br.n, br.pad = 0, 0, 0
	d := br.data
	for p := br.pos; p+1 < len(d); {
		switch {
		case d[p] != 0xFF:
			p++
		case d[p+1] == rst:
			br.pos = p + 2
			return nil
		case d[p+1] == 0xFF:
			p++
		case d[p+1] == 0:
			p += 2
		default:
			return errJPEGFallback
		}
	}
	return errJPEGFallback
}

// end checks what follows the scan: stray bytes and restart markers, then
// the end of the image, as image/jpeg accepts them; anything else (another
// scan, tables, fill bytes before a zero) is left to image/jpeg.
func (br *jpegBits) end() error {
	if br.n < br.pad {
		return errJPEGFallback
	}
	d := br.data
	for p := br.pos; p+1 < len(d); {
		if d[p] != 0xFF {
			p++
			continue
		}
		if d[p+1] == 0 { // 0xFF 0x00: stray data
			p += 2
			continue
		}
		q := p + 1
		for q < len(d) && d[q] == 0xFF { // fill bytes
			q++
		}
		switch {
		case q == len(d):
			return errJPEGFallback
		case d[q] == 0xD9:
			return nil
		case d[q] >= 0xD0 && d[q] <= 0xD7:
			p = q + 1
		default:
			return errJPEGFallback
		}
	}
	return errJPEGFallback
}
