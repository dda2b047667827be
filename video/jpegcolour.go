package video

import (
	"image"
	"image/color"
)

// jpegHeader is what a JPEG stream's markers say about its colour space.
type jpegHeader struct {
	jfif      bool // an APP0 JFIF marker
	adobe     bool // an APP14 Adobe marker
	transform byte // its colour transform flag
	ids       []byte
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
			h.ids = h.ids[:0]
			for k := 0; k < nc && 6+3*k < len(p); k++ {
				h.ids = append(h.ids, p[6+3*k])
			}
		}
		i += 2 + n
	}
	return h
}

// rgb reports whether a 3-component stream holds RGB samples rather than
// YCbCr, by libjpeg's rule (jdapimin.c, default_decompression_parms, as in
// IJG libjpeg 6b and libjpeg-turbo): a JFIF marker means YCbCr; else an
// Adobe marker decides, transform 0 meaning RGB and any other YCbCr; else
// component ids 'R', 'G', 'B' mean RGB and any others (1, 2, 3 as JFIF
// writes them, or anything else) YCbCr. The DICOM Photometric
// Interpretation plays no part: writers set it wrongly both ways, and the
// stream is what the samples are.
//
// image/jpeg differs in one case, which this corrects: it reads ids 'R',
// 'G', 'B' as RGB even when an Adobe marker says YCbCr.
func (h jpegHeader) rgb() bool {
	switch {
	case len(h.ids) != 3 || h.jfif:
		return false
	case h.adobe:
		return h.transform == 0
	}
	return string(h.ids) == "RGB"
}

// withJPEGColour returns m, decoded by image/jpeg from a stream with header
// h, with the colour space libjpeg would use: image/jpeg returns RGB
// streams as *image.RGBA holding the raw samples and YCbCr ones as
// *image.YCbCr, and where it chose otherwise than h.rgb() the samples are
// reinterpreted.
func withJPEGColour(m image.Image, h jpegHeader) image.Image {
	b := m.Bounds()
	switch m := m.(type) {
	case *image.RGBA:
		if h.rgb() {
			return m
		}
		out := image.NewRGBA(b)
		for i := 0; i+3 < len(m.Pix); i += 4 {
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = color.YCbCrToRGB(m.Pix[i], m.Pix[i+1], m.Pix[i+2])
			out.Pix[i+3] = 255
		}
		return out
	case *image.YCbCr:
		if !h.rgb() {
			return m
		}
		out := image.NewRGBA(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				yi, ci, o := m.YOffset(x, y), m.COffset(x, y), out.PixOffset(x, y)
				out.Pix[o], out.Pix[o+1], out.Pix[o+2], out.Pix[o+3] = m.Y[yi], m.Cb[ci], m.Cr[ci], 255
			}
		}
		return out
	}
	return m
}
