package video

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// dcmFrames splits encapsulated pixel data into t frames. The Extended
// Offset Table (7FE0,0001) decides when present, else the Basic Offset
// Table, else one fragment per frame when the counts agree, else, for JPEG,
// the fragments that start with an SOI marker start the frames.
func dcmFrames(px dcmPixels, t int, jpeg bool) ([][]byte, error) {
	var offs []int64
	switch {
	case len(px.eot) > 0:
		if len(px.eot)%8 != 0 || len(px.eot)/8 != t {
			return nil, fmt.Errorf("extended offset table of %d bytes, want 8 for each of %d frames", len(px.eot), t)
		}
		for i := 0; i < len(px.eot); i += 8 {
			o := px.bo.Uint64(px.eot[i:])
			if o > 1<<62 {
				return nil, fmt.Errorf("extended offset table: frame %d at offset %d", i/8, o)
			}
			offs = append(offs, int64(o))
		}
	case len(px.bot) > 0:
		if len(px.bot)%4 != 0 || len(px.bot)/4 != t {
			return nil, fmt.Errorf("basic offset table of %d bytes, want 4 for each of %d frames", len(px.bot), t)
		}
		for i := 0; i < len(px.bot); i += 4 {
			offs = append(offs, int64(binary.LittleEndian.Uint32(px.bot[i:])))
		}
	}
	if offs != nil {
		frames, err := framesAt(px, offs)
		if err != nil {
			return nil, err
		}
		if len(px.eotLen) > 0 {
			if len(px.eotLen) != 8*t {
				return nil, fmt.Errorf("extended offset table lengths of %d bytes, want 8 for each of %d frames", len(px.eotLen), t)
			}
			for i, f := range frames {
				if n := px.bo.Uint64(px.eotLen[8*i:]); n < uint64(len(f)) {
					frames[i] = f[:n]
				}
			}
		}
		return frames, nil
	}
	frags := px.fragments
	switch {
	case len(frags) == t:
		return frags, nil
	case !jpeg: // RLE: one fragment per frame (PS3.5 A.4.2)
		return nil, fmt.Errorf("%d fragments for %d frames and no offset table", len(frags), t)
	}
	// JPEG: a frame starts at each fragment that starts with an SOI marker
	// (which entropy-coded data cannot hold). A single frame with several
	// is an error, not a video whose first frame alone is decoded.
	var frames [][]byte
	for _, f := range frags {
		soi := len(f) >= 2 && f[0] == 0xFF && f[1] == 0xD8
		if len(frames) == 0 || soi {
			frames = append(frames, bytes.Clone(f))
		} else {
			frames[len(frames)-1] = append(frames[len(frames)-1], f...)
		}
	}
	if len(frames) != t {
		return nil, fmt.Errorf("%d JPEG frames in the pixel data, NumberOfFrames says %d", len(frames), t)
	}
	return frames, nil
}

// framesAt gathers the fragments of each frame from an offset table: frame i
// is the fragments whose items start at offs[i] up to offs[i+1].
func framesAt(px dcmPixels, offs []int64) ([][]byte, error) {
	frames := make([][]byte, len(offs))
	k := 0 // the next fragment
	for i, o := range offs {
		for k < len(px.itemOffs) && px.itemOffs[k] < o {
			k++
		}
		if k == len(px.itemOffs) || px.itemOffs[k] != o {
			return nil, fmt.Errorf("offset table: frame %d at offset %d is not the start of a fragment", i, o)
		}
		end := int64(1) << 62
		if i+1 < len(offs) {
			end = offs[i+1]
		}
		var parts [][]byte
		for ; k < len(px.itemOffs) && px.itemOffs[k] < end; k++ {
			parts = append(parts, px.fragments[k])
		}
		if len(parts) == 1 {
			frames[i] = parts[0]
		} else {
			frames[i] = bytes.Join(parts, nil)
		}
	}
	return frames, nil
}

// dicomJPEG decodes JPEG Baseline frames; rgbHint says whether the
// photometric interpretation is RGB (see jpegHeader.rgb).
func dicomJPEG(frames [][]byte, t, h, w, c int, rgbHint bool) (*Video, error) {
	for i, f := range frames {
		fi, err := jpegInfoBytes(f)
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
		if err := decodeJPEGHint(f, v.Frame(i), w, h, c, rgbHint); err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
	}
	return v, nil
}
