package figures

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"

	"github.com/vidssl/vidssl/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Default image size and resolution.
const (
	DefaultWidth  = 800 // pixels
	DefaultHeight = 600 // pixels
	DefaultDPI    = 96
)

// maxPixels bounds the image size (16384 x 16384) so that a typo cannot ask
// for gigabytes.
const maxPixels = 1 << 28

// Options sets a figure's title and size. The zero value is an untitled
// 800 x 600 image at 96 dots per inch.
type Options struct {
	Title string
	// Width and Height are the image size in pixels; 0 means the default.
	Width, Height int
	// DPI sets the size of text and lines relative to the image: at a
	// higher DPI the same pixel size holds larger type. 0 means 96.
	DPI int
}

func (o Options) resolve(fn string) (Options, error) {
	if o.Width == 0 {
		o.Width = DefaultWidth
	}
	if o.Height == 0 {
		o.Height = DefaultHeight
	}
	if o.DPI == 0 {
		o.DPI = DefaultDPI
	}
	if o.Width < 16 || o.Height < 16 || o.Width*o.Height > maxPixels || o.Width > maxPixels || o.Height > maxPixels {
		return o, fmt.Errorf("figures: %s: image size %dx%d pixels out of range", fn, o.Width, o.Height)
	}
	if o.DPI < 1 || o.DPI > 2400 {
		return o, fmt.Errorf("figures: %s: DPI %d out of range", fn, o.DPI)
	}
	return o, nil
}

// render draws p as a PNG of the size in o onto w. gonum/plot panics on
// some inputs; render turns a panic into an error.
func render(fn string, p *plot.Plot, w io.Writer, o Options) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("figures: %s: drawing: %v", fn, r)
		}
	}()
	inch := func(px int) vg.Length { return vg.Length(px) * vg.Inch / vg.Length(o.DPI) }
	c := vgimg.NewWith(vgimg.UseWH(inch(o.Width), inch(o.Height)), vgimg.UseDPI(o.DPI))
	p.Draw(draw.New(c))
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(w); err != nil {
		return fmt.Errorf("figures: %s: writing PNG: %w", fn, err)
	}
	return nil
}

// writeFile renders into memory, then writes path atomically: a temporary
// file in the same directory, synced, then renamed over path.
func writeFile(fn, path string, draw func(io.Writer) error) (err error) {
	var buf bytes.Buffer
	if err := draw(&buf); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(path, 0o644, buf.Bytes()); err != nil {
		return fmt.Errorf("figures: %s: write %s: %w", fn, path, err)
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

var errNoData = errors.New("nothing to draw")

// style returns the colour and glyph of the i-th series.
func style(i int) (color.Color, draw.GlyphDrawer) {
	return plotutil.Color(i), plotutil.Shape(i)
}
