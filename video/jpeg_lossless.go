package video

import (
	"errors"
	"fmt"
)

// Lossless JPEG (ITU-T T.81 process 14: SOF3, Huffman coded, predictors 1
// to 7), as DICOM's transfer syntaxes 1.2.840.10008.1.2.4.57 and .70 hold
// it. image/jpeg decodes only DCT processes.

// losslessJPEG is an image to decode.
type losslessJPEG struct {
	w, h, nc  int // size and components the data set expects
	nb        int // bytes per output sample (1 or 2)
	precision int
	restart   int // restart interval in MCUs (one pixel of every component)
	huff      [4]*huffTable
	tables    [4]int // the DC table of each component
}

// huffTable is a canonical Huffman table (T.81 Annex C), decoded a bit at a
// time as T.81 F.2.2.3 describes.
type huffTable struct {
	maxCode [17]int32 // the largest code of each length, -1 if none
	valPtr  [17]int32 // index in vals of the first code of each length
	minCode [17]int32
	vals    []byte
}

// decodeLosslessJPEG decodes one lossless JPEG image of w x h pixels and nc
// components into dst as little-endian native samples of nb bytes,
// components interleaved.
func decodeLosslessJPEG(data []byte, w, h, nc, nb int, dst []byte) error {
	if len(data) < 2 || data[0] != 0xFF || data[1] != 0xD8 {
		return errors.New("no SOI marker")
	}
	d := &losslessJPEG{w: w, h: h, nc: nc, nb: nb}
	sof := false
	for i := 2; ; {
		for i < len(data) && data[i] == 0xFF && i+1 < len(data) && data[i+1] == 0xFF {
			i++ // fill bytes
		}
		if i+4 > len(data) || data[i] != 0xFF {
			return fmt.Errorf("no marker at byte %d", i)
		}
		m := data[i+1]
		if m == 0xD9 {
			return errors.New("no scan before the EOI marker")
		}
		n := int(data[i+2])<<8 | int(data[i+3])
		if n < 2 || i+2+n > len(data) {
			return fmt.Errorf("marker %02X at byte %d: length %d runs past the end", m, i, n)
		}
		p := data[i+4 : i+2+n]
		var err error
		switch {
		case m == 0xC3:
			err, sof = d.frameHeader(p), true
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			return fmt.Errorf("frame type SOF%d is not lossless Huffman (SOF3)", m-0xC0)
		case m == 0xC4:
			err = d.huffmanTables(p)
		case m == 0xDD:
			if len(p) != 2 {
				return errors.New("DRI marker of bad length")
			}
			d.restart = int(p[0])<<8 | int(p[1])
		case m == 0xDA:
			if !sof {
				return errors.New("scan before the SOF3 marker")
			}
			return d.scan(p, data[i+2+n:], dst)
		}
		if err != nil {
			return err
		}
		i += 2 + n
	}
}

// frameHeader reads SOF3.
func (d *losslessJPEG) frameHeader(p []byte) error {
	if len(p) < 6 || len(p) != 6+3*int(p[5]) {
		return errors.New("SOF3 marker of bad length")
	}
	d.precision = int(p[0])
	h, w, nc := int(p[1])<<8|int(p[2]), int(p[3])<<8|int(p[4]), int(p[5])
	switch {
	case d.precision < 2 || d.precision > 8*d.nb:
		return fmt.Errorf("%d-bit samples in %d-byte pixel data", d.precision, d.nb)
	case h != d.h || w != d.w || nc != d.nc:
		return fmt.Errorf("JPEG is %dx%d with %d components, the data set says %dx%d with %d", w, h, nc, d.w, d.h, d.nc)
	}
	for k := range nc {
		if p[7+3*k] != 0x11 {
			return fmt.Errorf("component %d is subsampled (%02X)", k, p[7+3*k])
		}
	}
	return nil
}

// huffmanTables reads a DHT marker.
func (d *losslessJPEG) huffmanTables(p []byte) error {
	for len(p) > 0 {
		if len(p) < 17 {
			return errors.New("DHT marker of bad length")
		}
		class, id := p[0]>>4, int(p[0]&15)
		if class > 1 || id > 3 {
			return fmt.Errorf("DHT: table class %d, id %d", class, id)
		}
		t := &huffTable{}
		total := 0
		for l := 1; l <= 16; l++ {
			total += int(p[l])
		}
		if len(p) < 17+total || total > 256 {
			return errors.New("DHT marker of bad length")
		}
		t.vals = p[17 : 17+total]
		code, k := int32(0), int32(0)
		for l := 1; l <= 16; l++ {
			n := int32(p[l])
			t.valPtr[l], t.minCode[l] = k, code
			code += n
			k += n
			t.maxCode[l] = code - 1
			if n == 0 {
				t.maxCode[l] = -1
			}
			if code > 1<<l {
				return errors.New("DHT: more codes than their lengths allow")
			}
			code <<= 1
		}
		if class == 0 {
			d.huff[id] = t
		}
		p = p[17+total:]
	}
	return nil
}

// scan reads the SOS header p and decodes the entropy-coded data after it.
func (d *losslessJPEG) scan(p, data, dst []byte) error {
	if len(p) < 1 || int(p[0]) != d.nc || len(p) != 4+2*d.nc {
		return fmt.Errorf("scan header of %d bytes; want one scan of all %d components", len(p), d.nc)
	}
	for k := range d.nc {
		d.tables[k] = int(p[2+2*k] >> 4)
		if d.tables[k] > 3 || d.huff[d.tables[k]] == nil {
			return fmt.Errorf("component %d uses an undefined Huffman table", k)
		}
	}
	pred, pt := int(p[1+2*d.nc]), int(p[3+2*d.nc]&15)
	if pred < 1 || pred > 7 || pt >= d.precision {
		return fmt.Errorf("selection value %d, point transform %d", pred, pt)
	}
	if d.restart > 0 && d.restart%d.w != 0 {
		return fmt.Errorf("restart interval of %d pixels is not a whole number of %d-pixel rows", d.restart, d.w)
	}
	// Every sample takes at least one bit.
	if int64(len(data))*8 < int64(d.w)*int64(d.h)*int64(d.nc) {
		return fmt.Errorf("%d bytes of entropy-coded data cannot hold %dx%d pixels", len(data), d.w, d.h)
	}
	br := &bitReader{d: data}
	cur := make([]int32, d.w*d.nc)  // the row being decoded
	prev := make([]int32, d.w*d.nc) // the row above
	first := 0                      // the first row of the restart interval
	for y := range d.h {
		if d.restart > 0 && y > 0 && (y*d.w)%d.restart == 0 {
			if err := br.restart(); err != nil {
				return fmt.Errorf("row %d: %w", y, err)
			}
			first = y
		}
		for x := range d.w {
			for k := range d.nc {
				diff, err := br.diff(d.huff[d.tables[k]])
				if err != nil {
					return fmt.Errorf("row %d, column %d: %w", y, x, err)
				}
				i := x*d.nc + k
				var px int32
				switch {
				case y == first && x == 0:
					px = 1 << (d.precision - pt - 1)
				case y == first:
					px = cur[i-d.nc]
				case x == 0:
					px = prev[i]
				default:
					px = predict(pred, cur[i-d.nc], prev[i], prev[i-d.nc])
				}
				cur[i] = (px + diff) & 0xFFFF
			}
		}
		row := dst[y*d.w*d.nc*d.nb:]
		for i, v := range cur {
			v <<= pt
			if d.nb == 1 {
				row[i] = uint8(v)
			} else {
				row[2*i], row[2*i+1] = uint8(v), uint8(v>>8)
			}
		}
		cur, prev = prev, cur
	}
	if br.overrun() {
		return errors.New("entropy-coded data ends early")
	}
	return nil
}

// predict is the prediction of selection values 1 to 7 (T.81 Table H.1)
// from the samples to the left (a), above (b) and above-left (c).
func predict(sv int, a, b, c int32) int32 {
	switch sv {
	case 1:
		return a
	case 2:
		return b
	case 3:
		return c
	case 4:
		return a + b - c
	case 5:
		return a + (b-c)>>1
	case 6:
		return b + (a-c)>>1
	}
	return (a + b) >> 1
}

// bitReader reads entropy-coded bits, removing stuffed zero bytes. At a
// marker or the end of the data it feeds zero bits, as libjpeg does, and
// counts them, so that a decoder can tell it ran past the data.
type bitReader struct {
	d      []byte
	pos    int
	acc    uint64
	n      uint // bits in acc
	fake   int  // zero bytes fed past the data
	marker bool // stopped at a marker
}

func (b *bitReader) fill() {
	for b.n <= 56 {
		c := byte(0)
		switch {
		case b.marker || b.pos >= len(b.d):
			b.fake++
		case b.d[b.pos] == 0xFF && b.pos+1 < len(b.d) && b.d[b.pos+1] == 0:
			c = 0xFF
			b.pos += 2
		case b.d[b.pos] == 0xFF:
			b.marker = true
			b.fake++
		default:
			c = b.d[b.pos]
			b.pos++
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

func (b *bitReader) bits(n uint) int32 {
	if n == 0 {
		return 0
	}
	if b.n < n {
		b.fill()
	}
	v := int32(b.acc >> (64 - n))
	b.acc <<= n
	b.n -= n
	return v
}

// overrun reports whether more bits were used than the data held.
func (b *bitReader) overrun() bool { return int(b.n) < 8*b.fake }

// symbol decodes one Huffman-coded byte.
func (b *bitReader) symbol(t *huffTable) (byte, error) {
	code := int32(0)
	for l := 1; l <= 16; l++ {
		code = code<<1 | b.bits(1)
		if code <= t.maxCode[l] {
			return t.vals[t.valPtr[l]+code-t.minCode[l]], nil
		}
	}
	return 0, errors.New("bad Huffman code")
}

// diff decodes a difference: a Huffman-coded bit count and that many bits
// (T.81 H.1.2.2; 16 means 32768, with no bits).
func (b *bitReader) diff(t *huffTable) (int32, error) {
	s, err := b.symbol(t)
	switch {
	case err != nil:
		return 0, err
	case s == 0:
		return 0, nil
	case s == 16:
		return 32768, nil
	case s > 16:
		return 0, fmt.Errorf("difference of %d bits", s)
	}
	v := extend(b.bits(uint(s)), uint(s))
	if b.overrun() {
		return 0, errors.New("entropy-coded data ends early")
	}
	return v, nil
}

// restart skips to the RST marker that must follow a restart interval.
func (b *bitReader) restart() error {
	if b.overrun() {
		return errors.New("entropy-coded data ends early")
	}
	// Drop the bits read ahead and go to the next marker, as libjpeg does.
	b.acc, b.n, b.fake, b.marker = 0, 0, 0, false
	for b.pos+1 < len(b.d) && (b.d[b.pos] != 0xFF || b.d[b.pos+1] == 0 || b.d[b.pos+1] == 0xFF) {
		b.pos++
	}
	if b.pos+1 >= len(b.d) || b.d[b.pos+1] < 0xD0 || b.d[b.pos+1] > 0xD7 {
		return errors.New("no RST marker at the end of a restart interval")
	}
	b.pos += 2
	return nil
}
