package video

import (
	"image"
)

// jpegHeader is what a JPEG stream's markers say about its colour space.
type jpegHeader struct {
	jfif      bool // an APP0 JFIF marker
	adobe     bool // an APP14 Adobe marker
	transform byte // its colour transform flag
	ids       []byte
	sampling  []byte // each component's sampling factors, H<<4 | V
	rgbHint   bool   // the container says RGB (see rgb)
}

// scanJPEGHeader reads the markers before the first scan, as libjpeg does
// (jdmarker.c): a JFIF APP0 needs 14 bytes of data and an Adobe APP14 12,
// and a later marker overrides an earlier one. A damaged header gives what
// was read before the damage; the decoder reports the damage itself.
func scanJPEGHeader(data []byte) jpegHeader {
	var h jpegHeader
	if len(data) < 2 || data[0] != 0xFF || data[1] != 0xD8 {
		return h
	}
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xFF {
			return h
		}
		m := data[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0x01 || (m >= 0xD0 && m <= 0xD8): // no length
			i += 2
			continue
		case m == 0xDA || m == 0xD9: // the first scan, or the end
			return h
		}
		n := int(data[i+2])<<8 | int(data[i+3])
		if n < 2 || i+2+n > len(data) {
			return h
		}
		p := data[i+4 : i+2+n]
		switch {
		case m == 0xE0 && len(p) >= 14 && string(p[:5]) == "JFIF\x00":
			h.jfif = true
		case m == 0xEE && len(p) >= 12 && string(p[:5]) == "Adobe":
			h.adobe, h.transform = true, p[11]
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC && len(p) >= 6:
			nc := int(p[5])
			h.ids, h.sampling = h.ids[:0], h.sampling[:0]
			for k := 0; k < nc && 6+3*k+1 < len(p); k++ {
				h.ids = append(h.ids, p[6+3*k])
				h.sampling = append(h.sampling, p[6+3*k+1])
			}
		}
		i += 2 + n
	}
	return h
}

// rgb reports whether a 3-component stream holds RGB samples rather than
// YCbCr. The stream's own markers decide first, as in libjpeg (jdapimin.c,
// default_decompression_parms, IJG 6b and libjpeg-turbo): a JFIF marker
// means YCbCr; else an Adobe marker decides, transform 0 meaning RGB and any
// other YCbCr; else component ids 'R', 'G', 'B' mean RGB and 1, 2, 3 (as
// JFIF numbers them) YCbCr. Only when none of these says anything (no
// marker, other ids, such as 0, 1, 2) does the container's word, rgbHint,
// decide, where libjpeg assumes YCbCr: for DICOM, the Photometric
// Interpretation RGB. Both ways are real: pydicom's test file
// SC_jpeg_no_color_transform.dcm (Aperio, PI RGB, ids 0 1 2) holds RGB, which
// libjpeg turns magenta, and SC_rgb_jpeg_lossy_gdcm.dcm (GDCM, PI RGB, ids
// 1 2 3) holds YCbCr, which dcmtk, following the PI, leaves unconverted.
//
// image/jpeg differs from libjpeg in one case, which this corrects: it reads
// ids 'R', 'G', 'B' as RGB even when an Adobe marker says YCbCr.
func (h jpegHeader) rgb() bool {
	switch {
	case len(h.ids) != 3 || h.jfif:
		return false
	case h.adobe:
		return h.transform == 0
	case string(h.ids) == "RGB":
		return true
	case string(h.ids) == "\x01\x02\x03":
		return false
	}
	return h.rgbHint
}

// withJPEGColour returns m, decoded by image/jpeg from a stream with header
// h, in RGB as libjpeg would decode it. image/jpeg returns the streams it
// takes for RGB as *image.RGBA holding the raw samples, their subsampled
// planes replicated, and the others as *image.YCbCr. Where it chose
// otherwise than h.rgb(), the samples are reinterpreted; subsampled planes
// are interpolated as libjpeg does (see upsampleChroma) either way.
func withJPEGColour(m image.Image, h jpegHeader) image.Image {
	var yc *image.YCbCr
	switch m := m.(type) {
	case *image.RGBA:
		ratio, ok := h.subsampleRatio()
		if h.rgb() && (!ok || ratio == image.YCbCrSubsampleRatio444) {
			return m
		}
		yc = planes(m, ratio)
	case *image.YCbCr:
		yc = m
	default:
		return m
	}
	if !h.rgb() {
		return yc
	}
	b := yc.Bounds()
	g, bl := upsampleChroma(yc)
	out := image.NewRGBA(b)
	w := b.Dx()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			o, k := out.PixOffset(x, y), (y-b.Min.Y)*w+x-b.Min.X
			out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = yc.Y[yc.YOffset(x, y)], g[k], bl[k], 255
		}
	}
	return out
}

// subsampleRatio returns the chroma subsampling of a 3-component stream
// whose second and third components share their sampling factors.
func (h jpegHeader) subsampleRatio() (image.YCbCrSubsampleRatio, bool) {
	if len(h.sampling) != 3 || h.sampling[1] != h.sampling[2] || h.sampling[1] == 0 {
		return 0, false
	}
	s0, s1 := h.sampling[0], h.sampling[1]
	switch {
	case s0 == s1:
		return image.YCbCrSubsampleRatio444, true
	case s0>>4 == 2*(s1>>4) && s0&15 == s1&15:
		return image.YCbCrSubsampleRatio422, true
	case s0>>4 == 2*(s1>>4) && s0&15 == 2*(s1&15):
		return image.YCbCrSubsampleRatio420, true
	}
	return 0, false
}

// planes recovers the three planes, at their subsampled resolution, of an
// image that image/jpeg returned as raw samples (its chroma replicated).
func planes(m *image.RGBA, ratio image.YCbCrSubsampleRatio) *image.YCbCr {
	b := m.Bounds()
	yc := image.NewYCbCr(b, ratio)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			o := m.PixOffset(x, y)
			yc.Y[yc.YOffset(x, y)] = m.Pix[o]
			ci := yc.COffset(x, y)
			yc.Cb[ci], yc.Cr[ci] = m.Pix[o+1], m.Pix[o+2] // the last pixel of a block of a chroma sample writes it; all hold the same
		}
	}
	return yc
}

// upsampleChroma returns the Cb and Cr planes of m at full resolution (w*h
// each), interpolated as libjpeg's "fancy" upsampling does (jdsample.c,
// h2v1 and h2v2: a triangle filter with the chroma samples centred between
// the luma samples), so that decoded colour matches libjpeg-based decoders.
// Subsampling other than 4:2:2 and 4:2:0 is replicated.
func upsampleChroma(m *image.YCbCr) (cb, cr []uint8) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	cb, cr = make([]uint8, w*h), make([]uint8, w*h)
	cw := (w + 1) / 2
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		for y := range h {
			o := m.COffset(b.Min.X, b.Min.Y+y)
			fancyH2(cb[y*w:(y+1)*w], m.Cb[o:o+cw], nil)
			fancyH2(cr[y*w:(y+1)*w], m.Cr[o:o+cw], nil)
		}
	case image.YCbCrSubsampleRatio420:
		ch := (h + 1) / 2
		for y := range h {
			near := y / 2
			far := near - 1 // even rows lean on the chroma row above, odd ones below
			if y%2 == 1 {
				far = near + 1
			}
			far = min(max(far, 0), ch-1)
			on := m.COffset(b.Min.X, b.Min.Y+2*near)
			of := m.COffset(b.Min.X, b.Min.Y+2*far)
			fancyH2(cb[y*w:(y+1)*w], m.Cb[on:on+cw], m.Cb[of:of+cw])
			fancyH2(cr[y*w:(y+1)*w], m.Cr[on:on+cw], m.Cr[of:of+cw])
		}
	default:
		for y := range h {
			for x := range w {
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				cb[y*w+x], cr[y*w+x] = m.Cb[ci], m.Cr[ci]
			}
		}
	}
	return cb, cr
}

// fancyH2 doubles a row of chroma samples into dst (whose length may be
// odd). With far nil it is libjpeg's h2v1_fancy_upsample; otherwise the
// column sums 3*near + far are filtered as in h2v2_fancy_upsample.
func fancyH2(dst, near, far []uint8) {
	n := len(near)
	col := func(i int) int {
		i = min(max(i, 0), n-1)
		if far == nil {
			return int(near[i])
		}
		return 3*int(near[i]) + int(far[i])
	}
	// Rounding of libjpeg: h2v1 adds 1 and 2 and shifts by 2; h2v2 adds 8
	// and 7 and shifts by 4. The first and last outputs copy their sample.
	shift, r0, r1 := 2, 1, 2
	if far != nil {
		shift, r0, r1 = 4, 8, 7
	}
	for i := range n {
		c := 3 * col(i)
		left, right := (c+col(i-1)+r0)>>shift, (c+col(i+1)+r1)>>shift
		if n > 1 && i == 0 {
			left = (4*col(0) + r0) >> shift
		}
		if n > 1 && i == n-1 {
			right = (4*col(i) + r1) >> shift
		}
		if n == 1 {
			left, right = (4*col(0)+r0)>>shift, (4*col(0)+r1)>>shift
		}
		if 2*i < len(dst) {
			dst[2*i] = uint8(left)
		}
		if 2*i+1 < len(dst) {
			dst[2*i+1] = uint8(right)
		}
	}
}
