package video

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math"

	"github.com/vidssl/vidssl/internal/atomicfile"
)

// DefaultAVIQuality is the JPEG quality WriteAVI uses when AVIOptions.Quality
// is 0.
const DefaultAVIQuality = 90

// DefaultAVIFPS is the frame rate WriteAVI records for a video whose FPS is
// 0 (unknown).
const DefaultAVIFPS = 30

// AVIOptions are the settings of WriteAVI. A nil *AVIOptions means the
// defaults.
type AVIOptions struct {
	// Quality is the JPEG quality of every frame, 1 to 100 (higher is
	// better); 0 means DefaultAVIQuality.
	Quality int
}

// WriteAVI writes v to w as a Motion JPEG AVI file: one video stream
// ('vids', handler and compression 'MJPG') with one key-frame 00dc chunk per
// frame and an idx1 index, the layout that ffmpeg, OpenCV and ReadAVI read.
// Grey videos (C = 1) are written as one-component grey JPEGs; colour frames
// as baseline YCbCr JPEGs (image/jpeg, 4:2:0 chroma). The frame rate is v.FPS,
// or DefaultAVIFPS when v.FPS is 0. The whole file is built in memory before
// anything is written, since the RIFF sizes come first.
func WriteAVI(w io.Writer, v *Video, opts *AVIOptions) error {
	if err := writeAVI(w, v, opts); err != nil {
		return fmt.Errorf("video: write AVI: %w", err)
	}
	return nil
}

// WriteAVIFile writes v to the file at path as WriteAVI does. The file is
// written atomically: to a temporary file in the same directory, synced to
// disk and then renamed over path, so that path holds either its old content
// or the whole new video, and no partial file is left behind on error. The
// new file has permissions 0644.
func WriteAVIFile(path string, v *Video, opts *AVIOptions) error {
	if err := writeAVIFile(path, v, opts); err != nil {
		return fmt.Errorf("video: write %s: %w", path, err)
	}
	return nil
}

func writeAVIFile(path string, v *Video, opts *AVIOptions) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { return writeAVI(w, v, opts) })
}

// AVI header flags and sizes.
const (
	avifHasIndex       = 0x10
	avifIsInterleaved  = 0x100
	aviifKeyframe      = 0x10
	aviMainHeaderSize  = 56
	aviStreamHdrSize   = 56
	bitmapInfoHdrSize  = 40
	aviHdrlSize        = 4 + (8 + aviMainHeaderSize) + 8 + aviStrlSize
	aviStrlSize        = 4 + (8 + aviStreamHdrSize) + (8 + bitmapInfoHdrSize)
	aviIndexEntrySize  = 16
	maxAVIFileSize     = math.MaxUint32 - 8
	maxJPEGSide        = 65535
	maxAVIFrameRate    = 1e6
	aviFrameRateScale  = 1000
	aviFrameChunkID    = "00dc"
	aviVideoHandler    = "MJPG"
	aviStreamTypeVideo = "vids"
)

func writeAVI(w io.Writer, v *Video, opts *AVIOptions) error {
	if v == nil {
		return errors.New("nil video")
	}
	if _, err := videoSize(v.T, v.H, v.W, v.C); err != nil {
		return err
	}
	if want := v.T * v.H * v.W * v.C; len(v.Frames) != want {
		return fmt.Errorf("%d bytes of frames, want %d for %dx%dx%dx%d", len(v.Frames), want, v.T, v.H, v.W, v.C)
	}
	if v.W > maxJPEGSide || v.H > maxJPEGSide {
		return fmt.Errorf("frames of %dx%d are larger than JPEG allows (%d)", v.W, v.H, maxJPEGSide)
	}
	quality := DefaultAVIQuality
	if opts != nil && opts.Quality != 0 {
		quality = opts.Quality
	}
	if quality < 1 || quality > 100 {
		return fmt.Errorf("JPEG quality %d is outside 1..100", quality)
	}
	rate, scale, err := aviRate(v.FPS)
	if err != nil {
		return err
	}

	// Encode every frame; sizes must be known before the headers.
	frames := make([][]byte, v.T)
	var buf bytes.Buffer
	var img image.Image
	var rgba *image.RGBA
	if v.C == 1 {
		img = &image.Gray{Stride: v.W, Rect: image.Rect(0, 0, v.W, v.H)}
	} else {
		rgba = image.NewRGBA(image.Rect(0, 0, v.W, v.H))
		img = rgba
	}
	moviSize := int64(4)
	maxFrame := 0
	for t := range v.T {
		src := v.Frame(t)
		if v.C == 1 {
			img.(*image.Gray).Pix = src
		} else {
			for i, j := 0, 0; i < len(src); i, j = i+3, j+4 {
				rgba.Pix[j], rgba.Pix[j+1], rgba.Pix[j+2], rgba.Pix[j+3] = src[i], src[i+1], src[i+2], 0xFF
			}
		}
		buf.Reset()
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
			return fmt.Errorf("frame %d: %w", t, err)
		}
		frames[t] = bytes.Clone(buf.Bytes())
		n := len(frames[t])
		maxFrame = max(maxFrame, n)
		moviSize += 8 + int64(n+n&1)
		if moviSize > maxAVIFileSize {
			return fmt.Errorf("frame %d: the file would exceed the 4 GiB RIFF limit", t)
		}
	}
	idxSize := int64(aviIndexEntrySize) * int64(v.T)
	riffSize := 4 + (8 + aviHdrlSize) + (8 + moviSize) + (8 + idxSize)
	if riffSize > maxAVIFileSize {
		return errors.New("the file would exceed the 4 GiB RIFF limit")
	}

	hw := &leWriter{}
	hw.fourCC("RIFF")
	hw.u32(uint32(riffSize))
	hw.fourCC("AVI ")
	hw.fourCC("LIST")
	hw.u32(aviHdrlSize)
	hw.fourCC("hdrl")

	// MainAVIHeader.
	fps := float64(rate) / float64(scale)
	hw.fourCC("avih")
	hw.u32(aviMainHeaderSize)
	hw.u32(uint32(math.Round(1e6 / fps)))                          // dwMicroSecPerFrame
	hw.u32(uint32(min(math.Ceil(float64(maxFrame+8)*fps), 1<<31))) // dwMaxBytesPerSec
	hw.u32(0)                                                      // dwPaddingGranularity
	hw.u32(avifHasIndex | avifIsInterleaved)                       // dwFlags
	hw.u32(uint32(v.T))                                            // dwTotalFrames
	hw.u32(0)                                                      // dwInitialFrames
	hw.u32(1)                                                      // dwStreams
	hw.u32(uint32(maxFrame + 8))                                   // dwSuggestedBufferSize
	hw.u32(uint32(v.W))                                            // dwWidth
	hw.u32(uint32(v.H))                                            // dwHeight
	hw.u32(0)                                                      // dwReserved[4]
	hw.u32(0)
	hw.u32(0)
	hw.u32(0)

	hw.fourCC("LIST")
	hw.u32(aviStrlSize)
	hw.fourCC("strl")

	// AVIStreamHeader.
	hw.fourCC("strh")
	hw.u32(aviStreamHdrSize)
	hw.fourCC(aviStreamTypeVideo) // fccType
	hw.fourCC(aviVideoHandler)    // fccHandler
	hw.u32(0)                     // dwFlags
	hw.u16(0)                     // wPriority
	hw.u16(0)                     // wLanguage
	hw.u32(0)                     // dwInitialFrames
	hw.u32(scale)                 // dwScale
	hw.u32(rate)                  // dwRate
	hw.u32(0)                     // dwStart
	hw.u32(uint32(v.T))           // dwLength
	hw.u32(uint32(maxFrame + 8))  // dwSuggestedBufferSize
	hw.u32(math.MaxUint32)        // dwQuality: default
	hw.u32(0)                     // dwSampleSize: varies
	hw.u16(0)                     // rcFrame left, top, right, bottom
	hw.u16(0)
	hw.u16(uint16(v.W))
	hw.u16(uint16(v.H))

	// BITMAPINFOHEADER.
	hw.fourCC("strf")
	hw.u32(bitmapInfoHdrSize)
	hw.u32(bitmapInfoHdrSize)     // biSize
	hw.u32(uint32(v.W))           // biWidth
	hw.u32(uint32(v.H))           // biHeight
	hw.u16(1)                     // biPlanes
	hw.u16(24)                    // biBitCount
	hw.fourCC(aviVideoHandler)    // biCompression
	hw.u32(uint32(v.W * v.H * 3)) // biSizeImage
	hw.u32(0)                     // biXPelsPerMeter
	hw.u32(0)                     // biYPelsPerMeter
	hw.u32(0)                     // biClrUsed
	hw.u32(0)                     // biClrImportant
	hw.fourCC("LIST")
	hw.u32(uint32(moviSize))
	hw.fourCC("movi")
	if _, err := w.Write(hw.b); err != nil {
		return err
	}

	// The movi chunks, then the index; idx1 offsets count from the 'movi'
	// list type.
	idx := &leWriter{b: make([]byte, 0, 8+idxSize)}
	idx.fourCC("idx1")
	idx.u32(uint32(idxSize))
	off := uint32(4)
	var pad [1]byte
	for _, f := range frames {
		hw.b = hw.b[:0]
		hw.fourCC(aviFrameChunkID)
		hw.u32(uint32(len(f)))
		if _, err := w.Write(hw.b); err != nil {
			return err
		}
		if _, err := w.Write(f); err != nil {
			return err
		}
		if len(f)&1 == 1 {
			if _, err := w.Write(pad[:]); err != nil {
				return err
			}
		}
		idx.fourCC(aviFrameChunkID)
		idx.u32(aviifKeyframe)
		idx.u32(off)
		idx.u32(uint32(len(f)))
		off += uint32(8 + len(f) + len(f)&1)
	}
	_, err = w.Write(idx.b)
	return err
}

// aviRate turns a frame rate into the rate/scale pair of an AVI stream
// header: an integer rate over 1 when fps is whole, else thousandths reduced
// by their greatest common divisor (29.97 becomes 2997/100).
func aviRate(fps float64) (rate, scale uint32, err error) {
	switch {
	case fps == 0:
		return DefaultAVIFPS, 1, nil
	case math.IsNaN(fps) || fps < 1.0/aviFrameRateScale || fps > maxAVIFrameRate:
		return 0, 0, fmt.Errorf("frame rate %g is outside %g..%g", fps, 1.0/aviFrameRateScale, maxAVIFrameRate)
	case fps == math.Trunc(fps):
		return uint32(fps), 1, nil
	}
	r, s := uint32(math.Round(fps*aviFrameRateScale)), uint32(aviFrameRateScale)
	a, b := r, s
	for b != 0 {
		a, b = b, a%b
	}
	return r / a, s / a, nil
}

// leWriter appends little-endian fields to a byte slice.
type leWriter struct{ b []byte }

func (w *leWriter) u16(v uint16)    { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *leWriter) u32(v uint32)    { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *leWriter) fourCC(s string) { w.b = append(w.b, s[:4]...) }
