package video

import (
	"encoding/binary"
	"fmt"
)

// rleFrames checks RLE Lossless frames (PS3.5 Annex G) and returns a
// function that decodes frame i into little-endian samples, one plane per
// sample (planar configuration 1, which RLE implies).
func rleFrames(im *dcmImage, frames [][]byte) (func(int, []byte) ([]byte, error), error) {
	if im.pi == "YBR_FULL_422" {
		return nil, fmt.Errorf("RLE with photometric interpretation %s is not supported", im.pi)
	}
	nb := im.bits / 8
	nseg := im.spp * nb
	np := int64(im.h) * int64(im.w)
	for i, f := range frames {
		// A run of 128 bytes takes 2: no segment expands more than 64 times.
		if int64(len(f))*64 < np*int64(nseg) {
			return nil, fmt.Errorf("frame %d: %d bytes of RLE data cannot hold %d segments of %d bytes", i, len(f), nseg, np)
		}
	}
	im.planar = 1
	return func(i int, buf []byte) ([]byte, error) {
		f := frames[i]
		if len(f) < 64 {
			return nil, fmt.Errorf("RLE header of %d bytes, want 64", len(f))
		}
		if n := binary.LittleEndian.Uint32(f); n != uint32(nseg) {
			return nil, fmt.Errorf("%d RLE segments, want %d for %d samples of %d bits", n, nseg, im.spp, im.bits)
		}
		size := int(np) * nseg
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		seg := make([]byte, np)
		for s := range nseg {
			start := binary.LittleEndian.Uint32(f[4+4*s:])
			end := uint32(len(f))
			if s+1 < nseg {
				end = binary.LittleEndian.Uint32(f[8+4*s:])
			}
			if start < 64 || start > end || end > uint32(len(f)) {
				return nil, fmt.Errorf("RLE segment %d: bytes %d to %d of %d", s, start, end, len(f))
			}
			if err := unpackBits(seg, f[start:end]); err != nil {
				return nil, fmt.Errorf("RLE segment %d: %w", s, err)
			}
			// Segment s is byte s%nb (most significant first) of sample s/nb.
			k, b := s/nb, nb-1-s%nb
			plane := buf[int64(k)*np*int64(nb):]
			for p, x := range seg {
				plane[p*nb+b] = x
			}
		}
		return buf, nil
	}, nil
}

// unpackBits decodes a PackBits segment into dst, which it must fill; bytes
// left after dst is full (padding) are ignored.
func unpackBits(dst, src []byte) error {
	o := 0
	for i := 0; i < len(src) && o < len(dst); {
		n := int(int8(src[i]))
		i++
		switch {
		case n >= 0:
			if i+n+1 > len(src) {
				return fmt.Errorf("literal run of %d bytes at byte %d runs past the segment's end", n+1, i-1)
			}
			if o+n+1 > len(dst) {
				return fmt.Errorf("run past the %d bytes of the segment at byte %d", len(dst), i-1)
			}
			o += copy(dst[o:], src[i:i+n+1])
			i += n + 1
		case n == -128:
		default:
			if i >= len(src) {
				return fmt.Errorf("replicate run at byte %d without its byte", i-1)
			}
			if o+1-n > len(dst) {
				return fmt.Errorf("run past the %d bytes of the segment at byte %d", len(dst), i-1)
			}
			for range 1 - n {
				dst[o] = src[i]
				o++
			}
			i++
		}
	}
	if o < len(dst) {
		return fmt.Errorf("%d bytes, want %d", o, len(dst))
	}
	return nil
}
