package video

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
)

// ReadAVIFile reads the AVI file at path; see ReadAVI.
func ReadAVIFile(path string) (*Video, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, readErr(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, readErr(path, err)
	}
	return ReadAVI(f, st.Size(), path)
}

// ReadAVI decodes an AVI (RIFF) file of size bytes read from r. source names
// the file in errors and becomes the video's Source.
//
// The first video stream ("vids") is read: its frames are the 00dc/00db
// chunks of the movi lists (including LIST rec groups and the movi lists of
// OpenDML RIFF AVIX extensions), in file order; the idx1 index, JUNK and all
// other chunks are skipped. A zero-length frame chunk (a dropped frame)
// repeats the previous frame. The frame rate comes from the stream header's
// rate/scale, or else the main header's microseconds per frame.
//
// Supported codecs (the compression of the stream's BITMAPINFOHEADER):
//   - Motion JPEG (MJPG, mjpg, AVRn, AVDJ, dmb1, JPEG, jpeg, IJPG, ijpg),
//     decoded by this package's baseline decoder where it can (exactly
//     image/jpeg's pixels) and with image/jpeg otherwise; frames without Huffman tables get the standard
//     ones, as the AVI MJPEG convention says. C is 1 when every frame is a
//     one-component (grey) JPEG, else 3 (colour JPEGs convert to RGB).
//   - Uncompressed DIB (BI_RGB): 8-bit with a palette (C = 1 when the palette
//     is grey, else RGB with C = 3), 24-bit BGR and 32-bit BGRX (C = 3); rows
//     bottom-up, or top-down when the height is negative.
//   - 8-bit grey Y800 (also Y8 and GREY): C = 1.
//
// Any other codec is an error naming its FourCC, such as
// `video: read a.avi: unsupported codec "H264"`. Sizes that the file cannot
// hold are refused before anything of that size is allocated.
func ReadAVI(r io.ReaderAt, size int64, source string) (*Video, error) {
	p := &aviParser{r: r, size: size}
	v, err := p.read()
	if err != nil {
		return nil, readErr(source, err)
	}
	v.Source = source
	return v, nil
}

// aviChunk is a RIFF chunk: its FourCC, and the offset and size of its data.
type aviChunk struct {
	id   string
	off  int64
	size int64
}

type aviStream struct {
	typ          string
	scale, rate  uint32
	strf         []byte
	haveStrh     bool
	strfTooLarge bool
}

type aviParser struct {
	r          io.ReaderAt
	size       int64
	usPerFrame uint32
	haveAvih   bool
	streams    []aviStream
	movi       []aviChunk // movi lists, data after the list type
	frames     []aviChunk // the chosen stream's frame chunks
	// probe stops before the pixels: the video returned has its sizes and
	// frame rate but no Frames (see ProbeFile).
	probe bool
}

// readAt reads n bytes at off, failing when the file is too short.
func (p *aviParser) readAt(off int64, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > p.size || n > p.size-off {
		return nil, fmt.Errorf("truncated file: want %d bytes at offset %d, file has %d", n, off, p.size)
	}
	buf := make([]byte, n)
	if err := p.readInto(buf, off); err != nil {
		return nil, err
	}
	return buf, nil
}

// readInto fills buf from offset off.
func (p *aviParser) readInto(buf []byte, off int64) error {
	k, err := p.r.ReadAt(buf, off)
	if k == len(buf) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("offset %d: %w", off, err)
}

// walk calls fn for each chunk in [off, end). A chunk that runs past end is
// an error; fewer than 8 bytes left at the end (stray padding) are ignored.
func (p *aviParser) walk(off, end int64, fn func(c aviChunk) error) error {
	for end-off >= 8 {
		h, err := p.readAt(off, 8)
		if err != nil {
			return err
		}
		c := aviChunk{id: string(h[:4]), off: off + 8, size: int64(binary.LittleEndian.Uint32(h[4:]))}
		if c.size > end-c.off {
			return fmt.Errorf("chunk %q at offset %d: %d bytes run past the end of its list at %d (truncated file?)", c.id, off, c.size, end)
		}
		if err := fn(c); err != nil {
			return err
		}
		off = c.off + c.size + c.size&1
	}
	return nil
}

// listType returns the type of a LIST chunk, or "" for any other chunk.
func (p *aviParser) listType(c aviChunk) (string, error) {
	if c.id != "LIST" {
		return "", nil
	}
	if c.size < 4 {
		return "", fmt.Errorf("LIST chunk at offset %d has %d bytes, want at least 4", c.off-8, c.size)
	}
	t, err := p.readAt(c.off, 4)
	if err != nil {
		return "", err
	}
	return string(t), nil
}

// riffEnd checks the RIFF header at off (of the given form type) and returns
// the end of that RIFF chunk.
func (p *aviParser) riffEnd(off int64, form string) (int64, error) {
	h, err := p.readAt(off, 12)
	if err != nil || string(h[:4]) != "RIFF" || string(h[8:12]) != form {
		return 0, fmt.Errorf("not an AVI file (no RIFF %q header at offset %d)", form, off)
	}
	size := int64(binary.LittleEndian.Uint32(h[4:8]))
	end := off + 8 + size
	if end > p.size {
		return 0, fmt.Errorf("truncated file: RIFF header at offset %d says %d bytes, file has %d", off, size, p.size-off-8)
	}
	return end, nil
}

func (p *aviParser) read() (*Video, error) {
	end, err := p.riffEnd(0, "AVI ")
	if err != nil {
		return nil, err
	}
	if err := p.walk(12, end, p.topChunk); err != nil {
		return nil, err
	}
	// OpenDML: more movi lists in RIFF AVIX chunks after the first.
	for off := end + end&1; p.size-off >= 12; off = end + end&1 {
		h, err := p.readAt(off, 12)
		if err != nil {
			return nil, err
		}
		if string(h[:4]) != "RIFF" || string(h[8:12]) != "AVIX" {
			break
		}
		if end, err = p.riffEnd(off, "AVIX"); err != nil {
			return nil, err
		}
		if err := p.walk(off+12, end, p.topChunk); err != nil {
			return nil, err
		}
	}
	return p.decode()
}

func (p *aviParser) topChunk(c aviChunk) error {
	lt, err := p.listType(c)
	if err != nil {
		return err
	}
	switch lt {
	case "hdrl":
		return p.walk(c.off+4, c.off+c.size, p.hdrlChunk)
	case "movi":
		p.movi = append(p.movi, aviChunk{id: "movi", off: c.off + 4, size: c.size - 4})
	}
	return nil // idx1, JUNK, INFO and the rest
}

func (p *aviParser) hdrlChunk(c aviChunk) error {
	if c.id == "avih" {
		if c.size < 4 {
			return fmt.Errorf("avih chunk has %d bytes, want 56", c.size)
		}
		b, err := p.readAt(c.off, 4)
		if err != nil {
			return err
		}
		p.usPerFrame = binary.LittleEndian.Uint32(b)
		p.haveAvih = true
		return nil
	}
	lt, err := p.listType(c)
	if err != nil || lt != "strl" {
		return err
	}
	var s aviStream
	err = p.walk(c.off+4, c.off+c.size, func(c aviChunk) error {
		switch c.id {
		case "strh":
			if c.size < 28 {
				return fmt.Errorf("strh chunk has %d bytes, want 56", c.size)
			}
			b, err := p.readAt(c.off, 28)
			if err != nil {
				return err
			}
			s.typ = string(b[:4])
			s.scale = binary.LittleEndian.Uint32(b[20:24])
			s.rate = binary.LittleEndian.Uint32(b[24:28])
			s.haveStrh = true
		case "strf":
			// A video strf is a BITMAPINFOHEADER and at most a 256-entry
			// palette; audio and other streams are not read.
			if c.size > 1<<16 {
				s.strfTooLarge = true
				return nil
			}
			b, err := p.readAt(c.off, c.size)
			if err != nil {
				return err
			}
			s.strf = b
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.streams = append(p.streams, s)
	return nil
}

// collect gathers the frame chunks (id dc or db) of a movi list, descending
// into LIST rec groups.
func (p *aviParser) collect(c aviChunk, dc, db string, depth int) error {
	if c.id == dc || c.id == db {
		p.frames = append(p.frames, c)
		return nil
	}
	lt, err := p.listType(c)
	if err != nil || lt != "rec " {
		return err
	}
	if depth > 4 {
		return fmt.Errorf("LIST rec nested too deeply at offset %d", c.off-8)
	}
	return p.walk(c.off+4, c.off+c.size, func(c aviChunk) error { return p.collect(c, dc, db, depth+1) })
}

// aviCodec is how a stream's frames are stored.
type aviCodec int

const (
	aviMJPEG aviCodec = iota
	aviDIB            // BI_RGB: bottom-up unless the height is negative, 4-byte aligned rows
	aviGrey8          // Y800: top-down 8-bit grey
)

// aviCodecs maps the BITMAPINFOHEADER compression FourCCs we decode.
var aviCodecs = map[string]aviCodec{
	"MJPG": aviMJPEG, "mjpg": aviMJPEG, "AVRn": aviMJPEG, "AVDJ": aviMJPEG, "dmb1": aviMJPEG,
	"JPEG": aviMJPEG, "jpeg": aviMJPEG, "IJPG": aviMJPEG, "ijpg": aviMJPEG,
	"\x00\x00\x00\x00": aviDIB, "DIB ": aviDIB, "RGB ": aviDIB, "raw ": aviDIB,
	"Y800": aviGrey8, "Y8  ": aviGrey8, "GREY": aviGrey8,
}

// fourCCName quotes a FourCC, naming the numeric BI_ compressions.
func fourCCName(b []byte) string {
	if n := binary.LittleEndian.Uint32(b); n < 256 {
		names := map[uint32]string{1: "BI_RLE8", 2: "BI_RLE4", 3: "BI_BITFIELDS", 4: "BI_JPEG", 5: "BI_PNG"}
		if s, ok := names[n]; ok {
			return s
		}
		return fmt.Sprintf("0x%08x", n)
	}
	return fmt.Sprintf("%q", b)
}

func (p *aviParser) decode() (*Video, error) {
	if !p.haveAvih && len(p.streams) == 0 {
		return nil, errors.New("no hdrl header list")
	}
	si := -1
	for i, s := range p.streams {
		if s.haveStrh && s.typ == "vids" {
			si = i
			break
		}
	}
	if si < 0 {
		return nil, errors.New("no video stream (strh type vids)")
	}
	if si > 99 {
		return nil, fmt.Errorf("video stream number %d is beyond 99", si)
	}
	s := p.streams[si]
	if s.strfTooLarge {
		return nil, errors.New("video stream format (strf) is larger than 64 KiB")
	}
	if len(s.strf) < 40 {
		return nil, fmt.Errorf("video stream format (strf) has %d bytes, want a 40-byte BITMAPINFOHEADER", len(s.strf))
	}
	bih := s.strf
	comp := bih[16:20]
	codec, ok := aviCodecs[string(comp)]
	if !ok {
		return nil, fmt.Errorf("unsupported codec %s", fourCCName(comp))
	}
	dc, db := fmt.Sprintf("%02ddc", si), fmt.Sprintf("%02ddb", si)
	for _, m := range p.movi {
		err := p.walk(m.off, m.off+m.size, func(c aviChunk) error { return p.collect(c, dc, db, 0) })
		if err != nil {
			return nil, err
		}
	}
	if len(p.frames) == 0 {
		return nil, errors.New("no video frames")
	}
	if p.frames[0].size == 0 {
		return nil, errors.New("frame 0: empty chunk")
	}

	w := int64(int32(binary.LittleEndian.Uint32(bih[4:8])))
	h := int64(int32(binary.LittleEndian.Uint32(bih[8:12])))
	topDown := h < 0
	if topDown {
		h = -h
	}
	if w < 0 || w > 1<<16 || h > 1<<16 {
		return nil, fmt.Errorf("bad frame size %dx%d in the stream format", w, h)
	}

	var v *Video
	var err error
	switch codec {
	case aviMJPEG:
		v, err = p.decodeMJPEG(int(w), int(h))
	default:
		v, err = p.decodeDIB(bih, int(w), int(h), topDown || codec == aviGrey8, codec == aviGrey8)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case s.scale > 0 && s.rate > 0:
		v.FPS = float64(s.rate) / float64(s.scale)
	case p.usPerFrame > 0:
		v.FPS = 1e6 / float64(p.usPerFrame)
	}
	return v, nil
}

func (p *aviParser) decodeMJPEG(w, h int) (*Video, error) {
	// Read every frame once, into one buffer (the frame chunks lie inside
	// the file, so their sizes add up to at most its size).
	var total int64
	for _, f := range p.frames {
		total += f.size
	}
	if total > p.size {
		return nil, fmt.Errorf("frames of %d bytes in a file of %d", total, p.size)
	}
	all := make([]byte, total)
	data := make([][]byte, len(p.frames))
	grey := true
	for i, f := range p.frames {
		if f.size == 0 {
			continue
		}
		data[i], all = all[:f.size:f.size], all[f.size:]
		if err := p.readInto(data[i], f.off); err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		info, err := jpegInfoBytes(data[i])
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		if w == 0 && h == 0 {
			w, h = info.w, info.h // the stream format leaves the size out
		}
		if info.w != w || info.h != h {
			return nil, fmt.Errorf("frame %d: JPEG is %dx%d, the stream format says %dx%d", i, info.w, info.h, w, h)
		}
		grey = grey && info.grey
	}
	c := 3
	if grey {
		c = 1
	}
	n, err := videoSize(len(p.frames), h, w, c)
	if err != nil {
		return nil, err
	}
	if p.probe {
		return &Video{T: len(p.frames), H: h, W: w, C: c}, nil
	}
	v := &Video{Frames: make([]uint8, n), T: len(p.frames), H: h, W: w, C: c}
	for i, f := range data {
		if len(f) == 0 {
			copy(v.Frame(i), v.Frame(i-1))
			continue
		}
		if err := decodeJPEG(f, v.Frame(i), w, h, c); err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
	}
	return v, nil
}

func (p *aviParser) decodeDIB(bih []byte, w, h int, topDown, y800 bool) (*Video, error) {
	if w == 0 || h == 0 {
		return nil, fmt.Errorf("bad frame size %dx%d in the stream format", w, h)
	}
	bpp := int(binary.LittleEndian.Uint16(bih[14:16]))
	if y800 {
		bpp = 8
	}
	c := 3
	var lut [256][3]uint8 // palette, 8-bit DIB only
	nColours := 256
	switch {
	case y800:
		c = 1
		for i := range lut {
			lut[i] = [3]uint8{uint8(i), uint8(i), uint8(i)}
		}
	case bpp == 8:
		biSize := int64(binary.LittleEndian.Uint32(bih[0:4]))
		if used := binary.LittleEndian.Uint32(bih[32:36]); used != 0 && used < 256 {
			nColours = int(used)
		}
		if biSize < 40 || biSize > int64(len(bih)) || int64(len(bih))-biSize < int64(4*nColours) {
			return nil, fmt.Errorf("8-bit frames need a palette of %d colours after the BITMAPINFOHEADER; the stream format has %d bytes", nColours, len(bih))
		}
		pal := bih[biSize:]
		c = 1
		for i := 0; i < nColours; i++ {
			b, g, r := pal[4*i], pal[4*i+1], pal[4*i+2]
			lut[i] = [3]uint8{r, g, b}
			if r != g || g != b {
				c = 3
			}
		}
	case bpp == 24 || bpp == 32:
	default:
		return nil, fmt.Errorf("unsupported %d-bit uncompressed frames (want 8, 24 or 32)", bpp)
	}
	packed := int64(w) * int64(bpp/8)
	aligned := (packed + 3) &^ 3
	n, err := videoSize(len(p.frames), h, w, c)
	if err != nil {
		return nil, err
	}
	// Every frame chunk must hold its rows before the video is allocated.
	for i, f := range p.frames {
		if f.size != 0 && f.size < packed*int64(h) {
			return nil, fmt.Errorf("frame %d: %d bytes, want %d for %dx%d %d-bit pixels", i, f.size, aligned*int64(h), w, h, bpp)
		}
	}
	if p.probe {
		return &Video{T: len(p.frames), H: h, W: w, C: c}, nil
	}
	v := &Video{Frames: make([]uint8, n), T: len(p.frames), H: h, W: w, C: c}
	var buf []byte
	for i, f := range p.frames {
		dst := v.Frame(i)
		if f.size == 0 {
			copy(dst, v.Frame(i-1))
			continue
		}
		// Rows are 4-byte aligned as BI_RGB says; some writers pack them.
		stride := aligned
		if f.size == packed*int64(h) || f.size < aligned*int64(h) {
			stride = packed
		}
		if int64(cap(buf)) < f.size {
			buf = make([]byte, f.size)
		}
		buf = buf[:f.size]
		if err := p.readInto(buf, f.off); err != nil {
			return nil, fmt.Errorf("frame %d: %w", i, err)
		}
		for y := 0; y < h; y++ {
			sy := y
			if !topDown {
				sy = h - 1 - y
			}
			row := buf[int64(sy)*stride:]
			out := dst[y*w*c : (y+1)*w*c]
			switch bpp {
			case 8:
				for x := 0; x < w; x++ {
					k := int(row[x])
					if k >= nColours {
						return nil, fmt.Errorf("frame %d: pixel (%d,%d) is colour %d of a %d-colour palette", i, x, y, k, nColours)
					}
					if c == 1 {
						out[x] = lut[k][0]
					} else {
						copy(out[3*x:3*x+3], lut[k][:])
					}
				}
			default:
				step := bpp / 8
				for x := 0; x < w; x++ {
					px := row[x*step:]
					out[3*x], out[3*x+1], out[3*x+2] = px[2], px[1], px[0]
				}
			}
		}
	}
	return v, nil
}

// jpegFrame describes a JPEG image before decoding.
type jpegFrame struct {
	w, h int
	grey bool
}

// jpegInfoBytes is jpegInfo for a JPEG image in memory. The header of a
// stream the baseline decoder takes is read by its parser (cheaper than
// image/jpeg's, with the same answer); any other by jpegInfo.
func jpegInfoBytes(data []byte) (jpegFrame, error) {
	if j, err := parseBaselineJPEG(data); err == nil && int64((j.w+7)/8)*int64((j.h+7)/8) <= 8*int64(len(data)) {
		return jpegFrame{w: j.w, h: j.h, grey: j.nc == 1}, nil
	}
	return jpegInfo(bytes.NewReader(data), int64(len(data)))
}

// jpegInfo reads the header of a JPEG image of n bytes. It refuses images
// whose size the n bytes cannot encode: every 8x8 block of a JPEG takes at
// least one bit (a Huffman-coded DC difference), so a frame of B blocks needs
// at least B/8 bytes. This keeps a tiny file from claiming a huge image.
func jpegInfo(r io.Reader, n int64) (jpegFrame, error) {
	cfg, err := jpeg.DecodeConfig(r)
	if err != nil {
		return jpegFrame{}, fmt.Errorf("JPEG: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return jpegFrame{}, fmt.Errorf("JPEG: bad size %dx%d", cfg.Width, cfg.Height)
	}
	blocks := int64((cfg.Width+7)/8) * int64((cfg.Height+7)/8)
	if blocks > 8*n {
		return jpegFrame{}, fmt.Errorf("JPEG: a %dx%d image cannot fit in %d bytes", cfg.Width, cfg.Height, n)
	}
	return jpegFrame{w: cfg.Width, h: cfg.Height, grey: cfg.ColorModel == color.GrayModel}, nil
}

// decodeJPEG decodes one JPEG image of w x h pixels into dst (h*w*c bytes).
// A 3-component image is RGB or YCbCr as libjpeg decides (see
// jpegHeader.rgb). With c = 3 a grey image is replicated into R, G and B; with c = 1 a colour
// image gives its luma.
func decodeJPEG(data []byte, dst []uint8, w, h, c int) error {
	return decodeJPEGHint(data, dst, w, h, c, false)
}

// decodeJPEGHint is decodeJPEG for a container that says whether its
// colour JPEGs are RGB (rgbHint; see jpegHeader.rgb).
func decodeJPEGHint(data []byte, dst []uint8, w, h, c int, rgbHint bool) error {
	if decodeBaselineJPEG(data, dst, w, h, c, rgbHint) == nil {
		return nil
	}
	return decodeJPEGStd(data, dst, w, h, c, rgbHint)
}

// decodeJPEGStd is decodeJPEGHint with image/jpeg, for every stream;
// decodeBaselineJPEG gives the same pixels for the streams it takes.
func decodeJPEGStd(data []byte, dst []uint8, w, h, c int, rgbHint bool) error {
	m, err := jpeg.Decode(bytes.NewReader(withHuffmanTables(data)))
	if err != nil {
		return fmt.Errorf("JPEG: %w", err)
	}
	hdr := scanJPEGHeader(data)
	hdr.rgbHint = rgbHint
	m = withJPEGColour(m, hdr)
	b := m.Bounds()
	if b.Dx() != w || b.Dy() != h {
		return fmt.Errorf("JPEG is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	copyImage(dst, m, c)
	return nil
}

// copyImage copies m into dst as h x w x c bytes.
func copyImage(dst []uint8, m image.Image, c int) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := m.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			out := dst[y*w*c : (y+1)*w*c]
			if c == 1 {
				copy(out, row)
				continue
			}
			for x, g := range row {
				out[3*x], out[3*x+1], out[3*x+2] = g, g, g
			}
		}
	case *image.YCbCr:
		var cb, cr []uint8
		if c == 3 {
			cb, cr = upsampleChroma(m)
		}
		for y := 0; y < h; y++ {
			out := dst[y*w*c : (y+1)*w*c]
			for x := 0; x < w; x++ {
				yy := m.Y[m.YOffset(b.Min.X+x, b.Min.Y+y)]
				if c == 1 {
					out[x] = yy
					continue
				}
				out[3*x], out[3*x+1], out[3*x+2] = color.YCbCrToRGB(yy, cb[y*w+x], cr[y*w+x])
			}
		}
	default:
		for y := 0; y < h; y++ {
			out := dst[y*w*c : (y+1)*w*c]
			for x := 0; x < w; x++ {
				px := m.At(b.Min.X+x, b.Min.Y+y)
				if c == 1 {
					out[x] = color.GrayModel.Convert(px).(color.Gray).Y
					continue
				}
				r, g, bl, _ := px.RGBA()
				out[3*x], out[3*x+1], out[3*x+2] = uint8(r>>8), uint8(g>>8), uint8(bl>>8)
			}
		}
	}
}

// withHuffmanTables returns data with the standard Huffman tables (JPEG
// Annex K.3) inserted before the first scan when it defines none, as Motion
// JPEG AVI frames may (the OpenDML MJPEG convention); otherwise data itself.
func withHuffmanTables(data []byte) []byte {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return data
	}
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xFF {
			return data
		}
		switch m := data[i+1]; {
		case m == 0xFF: // fill byte
			i++
		case m == 0xC4 || m == 0xD9: // has tables; or the image ends
			return data
		case m == 0xDA: // a scan with no tables before it
			out := make([]byte, 0, len(data)+len(stdHuffmanTables))
			out = append(out, data[:i]...)
			out = append(out, stdHuffmanTables...)
			return append(out, data[i:]...)
		case m == 0x01 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7): // no length
			i += 2
		default:
			i += 2 + (int(data[i+2])<<8 | int(data[i+3]))
		}
	}
	return data
}

// stdHuffmanTables is a DHT segment with the four tables of JPEG Annex K.3
// (the ones image/jpeg's encoder uses).
var stdHuffmanTables = func() []byte {
	tables := []struct {
		class  byte // 0x00 DC 0, 0x10 AC 0, 0x01 DC 1, 0x11 AC 1
		counts [16]byte
		values []byte
	}{
		{0x00, [16]byte{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0},
			[]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{0x10, [16]byte{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125}, []byte{
			0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
			0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
			0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
			0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
			0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
			0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
			0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
			0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
			0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
			0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
			0xf9, 0xfa}},
		{0x01, [16]byte{0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
			[]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{0x11, [16]byte{0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119}, []byte{
			0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
			0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
			0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
			0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
			0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
			0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
			0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
			0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
			0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
			0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
			0xf9, 0xfa}},
	}
	var body []byte
	for _, t := range tables {
		body = append(body, t.class)
		body = append(body, t.counts[:]...)
		body = append(body, t.values...)
	}
	n := len(body) + 2
	return append([]byte{0xFF, 0xC4, byte(n >> 8), byte(n)}, body...)
}()
