package video

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// dcmImage is what the data set says about its pixels.
type dcmImage struct {
	t, h, w      int
	spp          int // samples per pixel
	bits         int // allocated: 8 or 16
	stored, high int
	signed       bool
	planar       int
	pi           string
	c            int // channels of the decoded video

	// Grey images of more than 8 bits: modality rescale and VOI window.
	slope, intercept float64
	center, width    float64
	window           bool
	voiFunc          string

	lut *dcmPalette // PALETTE COLOR
}

// grey16 reports whether grey samples go through the modality and VOI
// transforms to reach 8 bits.
func (im *dcmImage) grey16() bool {
	return im.c == 1 && im.pi != "PALETTE COLOR" && (im.bits > 8 || im.signed)
}

// frameBytes is the size of one native frame.
func (im *dcmImage) frameBytes() int64 {
	n := int64(im.h) * int64(im.w) * int64(im.spp) * int64(im.bits/8)
	if im.pi == "YBR_FULL_422" {
		n = n * 2 / 3
	}
	return n
}

// dicomImage reads and checks the image attributes.
func dicomImage(ds *dicom.Dataset, px dcmPixels) (*dcmImage, error) {
	im := &dcmImage{slope: 1}
	var signed int
	for _, a := range []struct {
		t   tag.Tag
		def int
		v   *int
	}{
		{tag.Rows, -1, &im.h}, {tag.Columns, -1, &im.w}, {tag.SamplesPerPixel, -1, &im.spp},
		{tag.BitsAllocated, -1, &im.bits}, {tag.PixelRepresentation, 0, &signed},
		{tag.PlanarConfiguration, 0, &im.planar}, {tag.NumberOfFrames, 1, &im.t},
	} {
		v, err := dcmInt(ds, a.t, a.def)
		if err != nil {
			return nil, err
		}
		*a.v = v
	}
	var err error
	if im.stored, err = dcmInt(ds, tag.BitsStored, im.bits); err != nil {
		return nil, err
	}
	if im.high, err = dcmInt(ds, tag.HighBit, im.stored-1); err != nil {
		return nil, err
	}
	if im.pi, err = dcmString(ds, tag.PhotometricInterpretation); err != nil {
		return nil, err
	}
	im.signed = signed == 1
	switch {
	case im.bits != 8 && im.bits != 16:
		return nil, fmt.Errorf("%d bits allocated per sample; only 8 and 16 are supported", im.bits)
	case signed != 0 && signed != 1:
		return nil, fmt.Errorf("pixel representation %d, want 0 or 1", signed)
	case im.stored < 1 || im.stored > im.bits || im.high < im.stored-1 || im.high >= im.bits:
		return nil, fmt.Errorf("bits stored %d, high bit %d with %d bits allocated", im.stored, im.high, im.bits)
	case im.planar != 0 && im.planar != 1:
		return nil, fmt.Errorf("planar configuration %d, want 0 or 1", im.planar)
	case im.h <= 0 || im.w <= 0 || im.t <= 0:
		return nil, fmt.Errorf("bad size: %d frames of %d rows x %d columns", im.t, im.h, im.w)
	}
	switch {
	case (im.pi == "MONOCHROME2" || im.pi == "MONOCHROME1") && im.spp == 1:
		im.c = 1
	case (im.pi == "RGB" || im.pi == "YBR_FULL" || im.pi == "YBR_FULL_422") && im.spp == 3:
		im.c = 3
		if im.bits != 8 || im.signed {
			return nil, fmt.Errorf("%s with %d bits allocated (signed %v) is not supported; only unsigned 8-bit colour", im.pi, im.bits, im.signed)
		}
	case im.pi == "PALETTE COLOR" && im.spp == 1:
		im.c = 3
		if im.lut, err = dicomPalette(ds, px.bo, im.bits); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("photometric interpretation %q with %d samples per pixel is not supported", im.pi, im.spp)
	}
	if im.pi == "YBR_FULL_422" && px.ts != tsJPEGBaseline {
		if im.planar != 0 {
			return nil, errors.New("YBR_FULL_422 needs planar configuration 0")
		}
		if im.w%2 != 0 {
			return nil, fmt.Errorf("YBR_FULL_422 needs an even number of columns, have %d", im.w)
		}
	}
	if im.grey16() {
		if err := im.readVOI(ds); err != nil {
			return nil, err
		}
	}
	return im, nil
}

// readVOI reads the modality rescale and the first VOI window.
func (im *dcmImage) readVOI(ds *dicom.Dataset) error {
	for _, a := range []struct {
		t  tag.Tag
		v  *float64
		ok *bool
	}{
		{tag.RescaleSlope, &im.slope, nil}, {tag.RescaleIntercept, &im.intercept, nil},
		{tag.WindowCenter, &im.center, &im.window}, {tag.WindowWidth, &im.width, nil},
	} {
		f, ok, err := dcmFloat(ds, a.t)
		if err != nil {
			return err
		}
		if ok {
			*a.v = f
		}
		if a.ok != nil {
			*a.ok = ok
		}
	}
	if im.slope == 0 || math.IsNaN(im.slope+im.intercept) || math.IsInf(im.slope+im.intercept, 0) {
		return fmt.Errorf("rescale slope %g, intercept %g", im.slope, im.intercept)
	}
	if !im.window {
		return nil
	}
	if !(im.width >= 1) || math.IsInf(im.width, 0) || math.IsNaN(im.center) || math.IsInf(im.center, 0) {
		return fmt.Errorf("VOI window of center %g, width %g", im.center, im.width)
	}
	s, _, _, ok, err := dcmValue(ds, tag.VOILUTFunction)
	if err != nil {
		return err
	}
	im.voiFunc = "LINEAR"
	if ok {
		im.voiFunc = s
	}
	switch im.voiFunc {
	case "LINEAR", "LINEAR_EXACT", "SIGMOID":
		return nil
	}
	return fmt.Errorf("VOI LUT function %q (want LINEAR, LINEAR_EXACT or SIGMOID)", im.voiFunc)
}

// dicomVideo decodes the pixel data of a parsed data set.
func dicomVideo(ds *dicom.Dataset, px dcmPixels) (*Video, error) {
	if !px.found {
		return nil, errors.New("no pixel data (7FE0,0010)")
	}
	im, err := dicomImage(ds, px)
	if err != nil {
		return nil, err
	}
	native := px.ts == tsImplicitLE || px.ts == tsExplicitLE || px.ts == tsExplicitBE || px.ts == tsDeflatedLE
	switch {
	case !native && !px.encapsulated:
		return nil, fmt.Errorf("the transfer syntax is %s but the pixel data is not encapsulated", tsName(px.ts))
	case native && px.encapsulated:
		return nil, errors.New("the transfer syntax is native but the pixel data is encapsulated")
	}
	var frame func(i int, buf []byte) ([]byte, error)
	ts := px.ts
	if ts == tsJPEGExtended && im.bits == 8 {
		ts = tsJPEGBaseline // process 2, 8-bit: image/jpeg decodes SOF1
	}
	switch ts {
	case tsJPEGBaseline:
		if im.bits != 8 || im.signed || im.pi == "PALETTE COLOR" {
			return nil, fmt.Errorf("JPEG with %d bits allocated and photometric interpretation %s is not supported", im.bits, im.pi)
		}
		frames, err := dcmFrames(px, im.t, true)
		if err != nil {
			return nil, err
		}
		v, err := dicomJPEG(frames, im.t, im.h, im.w, im.c, im.pi == "RGB")
		if err != nil {
			return nil, err
		}
		if im.pi == "MONOCHROME1" {
			for i, p := range v.Frames {
				v.Frames[i] = 255 - p
			}
		}
		v.FPS, err = dicomFPS(ds)
		return v, err
	case tsRLE:
		frames, err := dcmFrames(px, im.t, false)
		if err != nil {
			return nil, err
		}
		if frame, err = rleFrames(im, frames); err != nil {
			return nil, err
		}
	case tsJPEGLossless, tsJPEGSV1:
		frames, err := dcmFrames(px, im.t, true)
		if err != nil {
			return nil, err
		}
		if frame, err = losslessFrames(im, frames); err != nil {
			return nil, err
		}
	case tsJPEGExtended:
		frames, err := dcmFrames(px, im.t, true)
		if err != nil {
			return nil, err
		}
		if frame, err = extendedFrames(im, frames); err != nil {
			return nil, err
		}
	default:
		if frame, err = nativeFrames(im, px); err != nil {
			return nil, err
		}
	}
	n, err := videoSize(im.t, im.h, im.w, im.c)
	if err != nil {
		return nil, err
	}
	v := &Video{Frames: make([]uint8, n), T: im.t, H: im.h, W: im.w, C: im.c}
	if err := im.render(v, frame); err != nil {
		return nil, err
	}
	v.FPS, err = dicomFPS(ds)
	return v, err
}

// nativeFrames checks native pixel data and returns a function giving frame
// i as little-endian samples, laid out as the data set says.
func nativeFrames(im *dcmImage, px dcmPixels) (func(int, []byte) ([]byte, error), error) {
	fs := im.frameBytes()
	need := fs * int64(im.t)
	raw := px.native
	if got := int64(len(raw)); got != need && !(got == need+1 && got%2 == 0) {
		return nil, fmt.Errorf("pixel data has %d bytes, want %d for %d frames of %dx%d %s, %d bits allocated", got, need, im.t, im.w, im.h, im.pi, im.bits)
	}
	// Big endian words (16-bit samples, or OW data) are swapped.
	swap := px.bo == binary.BigEndian && (im.bits == 16 || px.vr == "OW")
	if swap && fs%2 != 0 {
		return nil, fmt.Errorf("big endian OW pixel data with frames of an odd %d bytes", fs)
	}
	return func(i int, buf []byte) ([]byte, error) {
		f := raw[int64(i)*fs : int64(i+1)*fs]
		if !swap {
			return f, nil
		}
		buf = append(buf[:0], f...)
		for k := 0; k+1 < len(buf); k += 2 {
			buf[k], buf[k+1] = buf[k+1], buf[k]
		}
		return buf, nil
	}, nil
}

// losslessFrames returns a function that decodes lossless JPEG frame i
// into little-endian samples, interleaved (planar configuration 0, which
// the JPEG stream implies).
func losslessFrames(im *dcmImage, frames [][]byte) (func(int, []byte) ([]byte, error), error) {
	// Every sample takes at least one bit: refuse frames too short for
	// their size before the video is allocated.
	for i, f := range frames {
		if int64(len(f))*8 < int64(im.h)*int64(im.w)*int64(im.spp) {
			return nil, fmt.Errorf("frame %d: %d bytes of lossless JPEG cannot hold %dx%d pixels", i, len(f), im.w, im.h)
		}
	}
	im.planar = 0
	size := im.frameBytes()
	return func(i int, buf []byte) ([]byte, error) {
		if int64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if err := decodeLosslessJPEG(frames[i], im.w, im.h, im.spp, im.bits/8, buf); err != nil {
			return nil, fmt.Errorf("lossless JPEG: %w", err)
		}
		return buf, nil
	}, nil
}

// extendedFrames returns a function that decodes 12-bit JPEG frame i into
// little-endian 16-bit samples, interleaved.
func extendedFrames(im *dcmImage, frames [][]byte) (func(int, []byte) ([]byte, error), error) {
	// Every 8x8 block takes at least two bits.
	blocks := int64((im.w+7)/8) * int64((im.h+7)/8) * int64(im.spp)
	for i, f := range frames {
		if int64(len(f))*4 < blocks {
			return nil, fmt.Errorf("frame %d: %d bytes of JPEG cannot hold %dx%d pixels", i, len(f), im.w, im.h)
		}
	}
	im.planar = 0
	size := im.frameBytes()
	return func(i int, buf []byte) ([]byte, error) {
		if int64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if err := decodeExtendedJPEG(frames[i], im.w, im.h, im.spp, buf); err != nil {
			return nil, fmt.Errorf("JPEG Extended: %w", err)
		}
		return buf, nil
	}, nil
}

// render decodes every frame into v.
func (im *dcmImage) render(v *Video, frame func(int, []byte) ([]byte, error)) error {
	var buf []byte
	var voi func(float64) uint8
	if im.grey16() {
		var err error
		if voi, err = im.voiLUT(frame); err != nil {
			return err
		}
	}
	for i := range im.t {
		src, err := frame(i, buf)
		if err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		buf = src
		dst := v.Frame(i)
		switch {
		case voi != nil:
			for p := range dst {
				dst[p] = voi(im.modality(src, p))
			}
		case im.lut != nil:
			if err := im.lut.apply(dst, src, im.bits); err != nil {
				return fmt.Errorf("frame %d: %w", i, err)
			}
		case im.c == 1:
			copy(dst, src)
			if im.pi == "MONOCHROME1" {
				for p, x := range dst {
					dst[p] = 255 - x
				}
			}
		default:
			colourFrame(dst, src, im.pi, im.planar, im.h*im.w)
		}
	}
	return nil
}

// sample returns grey sample p of a little-endian frame: its stored bits,
// sign-extended when signed.
func (im *dcmImage) sample(src []byte, p int) int32 {
	var x uint32
	if im.bits == 8 {
		x = uint32(src[p])
	} else {
		x = uint32(binary.LittleEndian.Uint16(src[2*p:]))
	}
	x >>= uint(im.high + 1 - im.stored)
	x &= 1<<uint(im.stored) - 1
	if im.signed && x>>uint(im.stored-1) == 1 {
		return int32(x) - 1<<uint(im.stored)
	}
	return int32(x)
}

// modality returns the rescaled value of grey sample p.
func (im *dcmImage) modality(src []byte, p int) float64 {
	return float64(im.sample(src, p))*im.slope + im.intercept
}

// voiLUT returns the VOI transform of modality values to 8 bits (inverted
// for MONOCHROME1): the first window of the data set (PS3.3 C.11.2.1.2),
// or without one, the range of the values in the whole video, so that every
// frame is scaled alike.
func (im *dcmImage) voiLUT(frame func(int, []byte) ([]byte, error)) (func(float64) uint8, error) {
	out := func(y float64) uint8 {
		if im.pi == "MONOCHROME1" {
			y = 255 - y
		}
		return clamp8(y)
	}
	if !im.window {
		lo, hi := math.Inf(1), math.Inf(-1)
		var buf []byte
		for i := range im.t {
			src, err := frame(i, buf)
			if err != nil {
				return nil, fmt.Errorf("frame %d: %w", i, err)
			}
			buf = src
			for p := range im.h * im.w {
				x := im.modality(src, p)
				lo, hi = min(lo, x), max(hi, x)
			}
		}
		if hi == lo {
			return func(float64) uint8 { return out(0) }, nil
		}
		return func(x float64) uint8 { return out((x - lo) / (hi - lo) * 255) }, nil
	}
	c, w := im.center, im.width
	switch im.voiFunc {
	case "LINEAR_EXACT":
		return func(x float64) uint8 { return out(((x-c)/w + 0.5) * 255) }, nil
	case "SIGMOID":
		return func(x float64) uint8 { return out(255 / (1 + math.Exp(-4*(x-c)/w))) }, nil
	}
	return func(x float64) uint8 {
		switch {
		case x <= c-0.5-(w-1)/2:
			return out(0)
		case x > c-0.5+(w-1)/2:
			return out(255)
		}
		return out(((x-(c-0.5))/(w-1) + 0.5) * 255)
	}, nil
}

// colourFrame converts one 8-bit colour frame of np pixels to RGB.
func colourFrame(dst, src []uint8, pi string, planar, np int) {
	switch {
	case pi == "RGB" && planar == 0:
		copy(dst, src)
	case pi == "RGB":
		for p := range np {
			dst[3*p], dst[3*p+1], dst[3*p+2] = src[p], src[np+p], src[2*np+p]
		}
	case pi == "YBR_FULL" && planar == 0:
		for p := 0; p < len(dst); p += 3 {
			dst[p], dst[p+1], dst[p+2] = ybrToRGB(src[p], src[p+1], src[p+2])
		}
	case pi == "YBR_FULL":
		for p := range np {
			dst[3*p], dst[3*p+1], dst[3*p+2] = ybrToRGB(src[p], src[np+p], src[2*np+p])
		}
	default: // YBR_FULL_422: Y0 Y1 Cb Cr for each pair of pixels
		for p := 0; p < np; p += 2 {
			q := 2 * p
			y0, y1, cb, cr := src[q], src[q+1], src[q+2], src[q+3]
			dst[3*p], dst[3*p+1], dst[3*p+2] = ybrToRGB(y0, cb, cr)
			dst[3*p+3], dst[3*p+4], dst[3*p+5] = ybrToRGB(y1, cb, cr)
		}
	}
}

// ybrToRGB converts full-range YCbCr (DICOM YBR_FULL, as JPEG) to RGB.
func ybrToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := float64(y)
	b, r := float64(cb)-128, float64(cr)-128
	return clamp8(yy + 1.402*r), clamp8(yy - 0.344136*b - 0.714136*r), clamp8(yy + 1.772*b)
}

func clamp8(x float64) uint8 {
	switch {
	case !(x > 0): // and NaN
		return 0
	case x >= 255:
		return 255
	}
	return uint8(x + 0.5)
}

// dcmPalette is a PALETTE COLOR lookup table, with 8-bit entries.
type dcmPalette struct {
	first int        // the first index mapped
	rgb   [3][]uint8 // one table per colour
}

// dicomPalette reads the red, green and blue palette colour lookup tables
// (PS3.3 C.7.6.3.1.5): a descriptor (entries, 0 meaning 65536; first index
// mapped; 8 or 16 bits per entry) and the data, 16-bit words or, for 8-bit
// entries, bytes. 16-bit entries keep their high byte.
func dicomPalette(ds *dicom.Dataset, bo binary.ByteOrder, bits int) (*dcmPalette, error) {
	lut := &dcmPalette{}
	for k, tags := range [3][2]tag.Tag{
		{tag.RedPaletteColorLookupTableDescriptor, tag.RedPaletteColorLookupTableData},
		{tag.GreenPaletteColorLookupTableDescriptor, tag.GreenPaletteColorLookupTableData},
		{tag.BluePaletteColorLookupTableDescriptor, tag.BluePaletteColorLookupTableData},
	} {
		e, err := ds.FindElementByTag(tags[0])
		if err != nil {
			if _, serr := ds.FindElementByTag(tag.SegmentedRedPaletteColorLookupTableData); serr == nil {
				return nil, fmt.Errorf("segmented palette colour lookup tables are not supported")
			}
			return nil, fmt.Errorf("no %s", tagName(tags[0]))
		}
		desc, ok := e.Value.GetValue().([]int)
		if !ok || len(desc) != 3 {
			return nil, fmt.Errorf("%s: want 3 integers", tagName(tags[0]))
		}
		n, first, entryBits := desc[0], desc[1], desc[2]
		if n == 0 {
			n = 1 << 16
		}
		if bits == 16 && first < 0 {
			first += 1 << 16 // read as signed (SS)
		}
		if n < 0 || first < 0 || first >= 1<<bits || (entryBits != 8 && entryBits != 16) {
			return nil, fmt.Errorf("%s: %d entries from %d of %d bits", tagName(tags[0]), desc[0], desc[1], desc[2])
		}
		if k > 0 && first != lut.first {
			return nil, fmt.Errorf("%s: first index %d, the red table's is %d", tagName(tags[0]), first, lut.first)
		}
		lut.first = first
		e, err = ds.FindElementByTag(tags[1])
		if err != nil {
			return nil, fmt.Errorf("no %s", tagName(tags[1]))
		}
		data, ok := e.Value.GetValue().([]byte)
		if !ok {
			return nil, fmt.Errorf("%s: want bytes", tagName(tags[1]))
		}
		t := make([]uint8, n)
		switch {
		case entryBits == 8 && len(data) >= n && len(data) <= n+1:
			copy(t, data)
		case len(data) >= 2*n && len(data) <= 2*n+1:
			for i := range t {
				x := bo.Uint16(data[2*i:])
				if entryBits == 16 {
					x >>= 8
				}
				t[i] = uint8(x)
			}
		default:
			return nil, fmt.Errorf("%s: %d bytes for %d entries of %d bits", tagName(tags[1]), len(data), n, entryBits)
		}
		lut.rgb[k] = t
	}
	if len(lut.rgb[0]) != len(lut.rgb[1]) || len(lut.rgb[0]) != len(lut.rgb[2]) {
		return nil, fmt.Errorf("palette tables of %d, %d and %d entries", len(lut.rgb[0]), len(lut.rgb[1]), len(lut.rgb[2]))
	}
	return lut, nil
}

// apply maps a frame of indices (8 or 16-bit, little endian) to RGB;
// indices outside the table take its first or last entry.
func (lut *dcmPalette) apply(dst, src []byte, bits int) error {
	last := len(lut.rgb[0]) - 1
	for p := 0; 3*p < len(dst); p++ {
		x := int(src[p])
		if bits == 16 {
			x = int(binary.LittleEndian.Uint16(src[2*p:]))
		}
		x = min(max(x-lut.first, 0), last)
		dst[3*p], dst[3*p+1], dst[3*p+2] = lut.rgb[0][x], lut.rgb[1][x], lut.rgb[2][x]
	}
	return nil
}
