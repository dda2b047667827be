package video

import (
	"errors"
	"fmt"
	"math"
)

// Sequential DCT JPEG with 12-bit samples (ITU-T T.81 process 4, SOF1),
// as DICOM's JPEG Extended transfer syntax 1.2.840.10008.1.2.4.51 holds
// it; image/jpeg decodes 8-bit samples only. Only what such files use is
// supported: one interleaved scan of components that are not subsampled.

// extendedJPEG is an image to decode.
type extendedJPEG struct {
	w, h, nc  int
	precision int
	restart   int
	quant     [4][64]int32 // in zigzag order
	dc, ac    [4]*huffTable
	comps     []extComp
}

type extComp struct {
	tq, td, ta int
	pred       int32 // DC prediction
}

// zigzag maps the zigzag index of a coefficient to its natural index.
var zigzag = [64]int{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

// decodeExtendedJPEG decodes one 12-bit (or 8-bit) sequential JPEG image of
// w x h pixels and nc components into dst as little-endian 16-bit samples,
// components interleaved.
func decodeExtendedJPEG(data []byte, w, h, nc int, dst []byte) error {
	if len(data) < 2 || data[0] != 0xFF || data[1] != 0xD8 {
		return errors.New("no SOI marker")
	}
	d := &extendedJPEG{w: w, h: h, nc: nc}
	for i := 2; ; {
		for i+1 < len(data) && data[i] == 0xFF && data[i+1] == 0xFF {
			i++
		}
		if i+4 > len(data) || data[i] != 0xFF {
			return fmt.Errorf("no marker at byte %d", i)
		}
		m := data[i+1]
		n := int(data[i+2])<<8 | int(data[i+3])
		if n < 2 || i+2+n > len(data) {
			return fmt.Errorf("marker %02X at byte %d: length %d runs past the end", m, i, n)
		}
		p := data[i+4 : i+2+n]
		var err error
		switch {
		case m == 0xC0 || m == 0xC1:
			err = d.frameHeader(p)
		case m >= 0xC2 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			return fmt.Errorf("frame type SOF%d is not sequential Huffman DCT (SOF0 or SOF1)", m-0xC0)
		case m == 0xC4:
			err = d.huffmanTables(p)
		case m == 0xDB:
			err = d.quantTables(p)
		case m == 0xDD:
			if len(p) != 2 {
				return errors.New("DRI marker of bad length")
			}
			d.restart = int(p[0])<<8 | int(p[1])
		case m == 0xDA:
			if d.comps == nil {
				return errors.New("scan before the frame header")
			}
			return d.scan(p, data[i+2+n:], dst)
		case m == 0xD9:
			return errors.New("no scan before the EOI marker")
		}
		if err != nil {
			return err
		}
		i += 2 + n
	}
}

func (d *extendedJPEG) frameHeader(p []byte) error {
	if len(p) < 6 || len(p) != 6+3*int(p[5]) {
		return errors.New("SOF marker of bad length")
	}
	d.precision = int(p[0])
	h, w, nc := int(p[1])<<8|int(p[2]), int(p[3])<<8|int(p[4]), int(p[5])
	switch {
	case d.precision != 8 && d.precision != 12:
		return fmt.Errorf("%d-bit samples, want 8 or 12", d.precision)
	case h != d.h || w != d.w || nc != d.nc:
		return fmt.Errorf("JPEG is %dx%d with %d components, the data set says %dx%d with %d", w, h, nc, d.w, d.h, d.nc)
	}
	d.comps = make([]extComp, nc)
	for k := range nc {
		if p[7+3*k] != 0x11 {
			return fmt.Errorf("component %d is subsampled (%02X), which is not supported", k, p[7+3*k])
		}
		d.comps[k].tq = int(p[8+3*k])
		if d.comps[k].tq > 3 {
			return fmt.Errorf("component %d uses quantisation table %d", k, d.comps[k].tq)
		}
	}
	return nil
}

func (d *extendedJPEG) quantTables(p []byte) error {
	for len(p) > 0 {
		pq, tq := int(p[0]>>4), int(p[0]&15)
		if pq > 1 || tq > 3 || len(p) < 1+64*(pq+1) {
			return errors.New("DQT marker of bad length or table")
		}
		for k := range 64 {
			if pq == 0 {
				d.quant[tq][k] = int32(p[1+k])
			} else {
				d.quant[tq][k] = int32(p[1+2*k])<<8 | int32(p[2+2*k])
			}
		}
		p = p[1+64*(pq+1):]
	}
	return nil
}

func (d *extendedJPEG) huffmanTables(p []byte) error {
	// The same DHT syntax as lossless JPEG; class 1 holds AC tables.
	var l losslessJPEG
	for len(p) > 0 {
		if len(p) < 17 {
			return errors.New("DHT marker of bad length")
		}
		total := 0
		for _, c := range p[1:17] {
			total += int(c)
		}
		if len(p) < 17+total {
			return errors.New("DHT marker of bad length")
		}
		seg := p[:17+total]
		one := append([]byte{seg[0] &^ 0x10}, seg[1:]...) // parse as class 0
		if err := l.huffmanTables(one); err != nil {
			return err
		}
		id := int(seg[0] & 15)
		if seg[0]>>4 == 0 {
			d.dc[id] = l.huff[id]
		} else {
			d.ac[id] = l.huff[id]
		}
		p = p[17+total:]
	}
	return nil
}

func (d *extendedJPEG) scan(p, data, dst []byte) error {
	if len(p) != 4+2*d.nc || int(p[0]) != d.nc {
		return fmt.Errorf("scan header of %d bytes; want one scan of all %d components", len(p), d.nc)
	}
	for k := range d.nc {
		c := &d.comps[k]
		c.td, c.ta = int(p[2+2*k]>>4), int(p[2+2*k]&15)
		if c.td > 3 || c.ta > 3 || d.dc[c.td] == nil || d.ac[c.ta] == nil {
			return fmt.Errorf("component %d uses an undefined Huffman table", k)
		}
	}
	// A sequential scan's Ss, Se, Ah and Al must be 0, 63, 0 and 0; some
	// writers put other values there, which libjpeg ignores with a warning
	// (jdinput.c, JWRN_NOT_SEQUENTIAL), and so does this decoder.
	bw, bh := (d.w+7)/8, (d.h+7)/8
	// Every block takes at least two bits (a DC and an EOB code).
	if int64(len(data))*4 < int64(bw)*int64(bh)*int64(d.nc) {
		return fmt.Errorf("%d bytes of entropy-coded data cannot hold %dx%d pixels", len(data), d.w, d.h)
	}
	br := &bitReader{d: data}
	shift, maxv := float64(int(1)<<(d.precision-1)), float64(int(1)<<d.precision-1)
	var coef [64]int32
	var out [64]float64
	for mcu := range bw * bh {
		if d.restart > 0 && mcu > 0 && mcu%d.restart == 0 {
			if err := br.restart(); err != nil {
				return fmt.Errorf("block %d: %w", mcu, err)
			}
			for k := range d.comps {
				d.comps[k].pred = 0
			}
		}
		bx, by := mcu%bw, mcu/bw
		for k := range d.comps {
			c := &d.comps[k]
			if err := d.block(br, c, &coef); err != nil {
				return fmt.Errorf("block (%d,%d), component %d: %w", bx, by, k, err)
			}
			idct8x8(&coef, &out)
			for y := range 8 {
				py := by*8 + y
				if py >= d.h {
					break
				}
				for x := range 8 {
					px := bx*8 + x
					if px >= d.w {
						break
					}
					v := uint16(min(max(math.Round(out[8*y+x]+shift), 0), maxv))
					o := 2 * ((py*d.w+px)*d.nc + k)
					dst[o], dst[o+1] = uint8(v), uint8(v>>8)
				}
			}
		}
	}
	if br.overrun() {
		return errors.New("entropy-coded data ends early")
	}
	return nil
}

// block decodes and dequantises one block's coefficients (natural order).
func (d *extendedJPEG) block(br *bitReader, c *extComp, coef *[64]int32) error {
	*coef = [64]int32{}
	q := &d.quant[c.tq]
	diff, err := br.diff(d.dc[c.td])
	if err != nil {
		return err
	}
	c.pred += diff
	coef[0] = c.pred * q[0]
	for k := 1; k < 64; k++ {
		rs, err := br.symbol(d.ac[c.ta])
		if err != nil {
			return err
		}
		r, s := int(rs>>4), uint(rs&15)
		if s == 0 {
			if r != 15 {
				break // end of block
			}
			k += 15
			continue
		}
		k += r
		if k > 63 {
			return errors.New("coefficients past the end of the block")
		}
		coef[zigzag[k]] = extend(br.bits(s), s) * q[k]
	}
	if br.overrun() {
		return errors.New("entropy-coded data ends early")
	}
	return nil
}

// idct8x8 is the inverse DCT of T.81 A.3.3, computed directly in floating
// point (separably: rows, then columns).
func idct8x8(coef *[64]int32, out *[64]float64) {
	var tmp [64]float64
	for y := range 8 {
		for x := range 8 {
			s := 0.0
			for u := range 8 {
				s += idctCos[x][u] * float64(coef[8*y+u])
			}
			tmp[8*y+x] = s
		}
	}
	for x := range 8 {
		for y := range 8 {
			s := 0.0
			for v := range 8 {
				s += idctCos[y][v] * tmp[8*v+x]
			}
			out[8*y+x] = s / 4
		}
	}
}

// idctCos[x][u] is C(u) cos((2x+1) u pi / 16), C(0) = 1/sqrt(2).
var idctCos = func() (t [8][8]float64) {
	for x := range 8 {
		for u := range 8 {
			c := 1.0
			if u == 0 {
				c = 1 / math.Sqrt2
			}
			t[x][u] = c * math.Cos(float64(2*x+1)*float64(u)*math.Pi/16)
		}
	}
	return t
}()

// extend turns s received bits into a signed value (T.81 F.2.2.1).
func extend(v int32, s uint) int32 {
	if v < 1<<(s-1) {
		v -= 1<<s - 1
	}
	return v
}
