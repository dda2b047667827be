package explain

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"github.com/vidssl/vidssl/internal/atomicfile"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Colorize paints an h x w heatmap (row-major, values in [0, 1]; others are
// clamped) with the colour map cmap.
func Colorize(heat []float32, h, w int, cmap Colormap) (*image.RGBA, error) {
	if err := checkHeat("Colorize", heat, h, w); err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, cmap.At(float64(heat[y*w+x])))
		}
	}
	return img, nil
}

// Overlay blends a heatmap, painted with cmap, over a video frame:
//
//	out = (1 - alpha) * frame + alpha * cmap(heat)
//
// per channel, rounded to 8 bits, opaque. frame is h x w x c row-major
// uint8 pixels with c = 1 (grey) or c = 3 (RGB), as one frame of a decoded
// video; heat is h x w values in [0, 1] (others are clamped), as Saliency
// returns after upsampling to the clip's size. alpha must be in [0, 1]:
// 0 shows the frame alone, 1 the heatmap alone; 0.4 to 0.5 is usual.
func Overlay(frame []uint8, h, w, c int, heat []float32, cmap Colormap, alpha float64) (*image.RGBA, error) {
	if err := checkHeat("Overlay", heat, h, w); err != nil {
		return nil, err
	}
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("explain: Overlay: frame has %d channels, want 1 (grey) or 3 (RGB)", c)
	}
	if len(frame) != h*w*c {
		return nil, fmt.Errorf("explain: Overlay: frame has %d values, %dx%dx%d needs %d", len(frame), h, w, c, h*w*c)
	}
	if !(alpha >= 0 && alpha <= 1) {
		return nil, fmt.Errorf("explain: Overlay: alpha %v outside [0, 1]", alpha)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range h * w {
		hr, hg, hb := cmap.rgb(float64(heat[i]))
		var fr, fg, fb float64
		if c == 1 {
			fr = float64(frame[i]) / 255
			fg, fb = fr, fr
		} else {
			fr, fg, fb = float64(frame[3*i])/255, float64(frame[3*i+1])/255, float64(frame[3*i+2])/255
		}
		p := img.Pix[4*i : 4*i+4 : 4*i+4]
		p[0] = to8((1-alpha)*fr + alpha*hr)
		p[1] = to8((1-alpha)*fg + alpha*hg)
		p[2] = to8((1-alpha)*fb + alpha*hb)
		p[3] = 255
	}
	return img, nil
}

// checkHeat checks an h x w heatmap's size and values.
func checkHeat(fn string, heat []float32, h, w int) error {
	if _, err := volume(fn, []int{h, w}); err != nil {
		return err
	}
	if len(heat) != h*w {
		return fmt.Errorf("explain: %s: heatmap has %d values, %dx%d needs %d", fn, len(heat), h, w, h*w)
	}
	for i, v := range heat {
		if math.IsNaN(float64(v)) {
			return fmt.Errorf("explain: %s: heat[%d] is NaN", fn, i)
		}
	}
	return nil
}

// WritePNG encodes img as a PNG file at path, atomically: it writes a
// temporary file in the same directory, syncs it and renames it over path,
// so that a reader never sees a partial image and a failure leaves any
// earlier file at path as it was. The file is created with mode 0644.
func WritePNG(path string, img image.Image) (err error) {
	if img == nil {
		return fmt.Errorf("explain: write %s: nil image", path)
	}
	if err := atomicfile.Write(path, 0o644, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return fmt.Errorf("explain: write %s: %w", path, err)
	}
	return nil
}

// Grid layout, in pixels.
const (
	gridPad = 4 // between cells, around the figure and around labels
)

// labelFace is the font of Grid's labels: a fixed 7x13 bitmap font covering
// ASCII and Latin-1; other characters are skipped.
var labelFace font.Face = basicfont.Face7x13

// Grid composes images into one figure, as the paper's Figure 3 (rows are
// models, columns are videos), on a white background with gridPad (4)
// pixels between cells and around the edge.
//
// rows[i][j] is the cell in row i, column j; a nil cell, or a missing one
// at the end of a short row, is left blank. Each column is as wide as its
// widest cell and each row as tall as its tallest; smaller cells are
// centred. rowLabels, if not empty, must have one label per row; they are
// drawn left of the rows, vertically centred. colLabels, if not empty, must
// have one label per column; they are drawn above the columns, centred, and
// clipped to the column's width. Labels are drawn in black in a 7x13 bitmap
// font (golang.org/x/image/font/basicfont).
func Grid(rows [][]*image.RGBA, rowLabels, colLabels []string) (*image.RGBA, error) {
	nr, nc := len(rows), 0
	for _, r := range rows {
		nc = max(nc, len(r))
	}
	if nr == 0 || nc == 0 {
		return nil, fmt.Errorf("explain: Grid: no cells (%d rows, %d columns)", nr, nc)
	}
	if len(rowLabels) != 0 && len(rowLabels) != nr {
		return nil, fmt.Errorf("explain: Grid: %d row labels for %d rows", len(rowLabels), nr)
	}
	if len(colLabels) != 0 && len(colLabels) != nc {
		return nil, fmt.Errorf("explain: Grid: %d column labels for %d columns", len(colLabels), nc)
	}
	widths, heights := make([]int, nc), make([]int, nr)
	for i, r := range rows {
		for j, cell := range r {
			if cell == nil {
				continue
			}
			b := cell.Bounds()
			widths[j] = max(widths[j], b.Dx())
			heights[i] = max(heights[i], b.Dy())
		}
	}
	lineH := labelFace.Metrics().Height.Ceil()
	left, top := gridPad, gridPad
	if len(rowLabels) != 0 {
		lw := 0
		for _, s := range rowLabels {
			lw = max(lw, font.MeasureString(labelFace, s).Ceil())
		}
		left += lw + gridPad
	}
	if len(colLabels) != 0 {
		top += lineH + gridPad
	}
	xs, ys := make([]int, nc+1), make([]int, nr+1)
	xs[0], ys[0] = left, top
	for j, w := range widths {
		xs[j+1] = xs[j] + w + gridPad
	}
	for i, h := range heights {
		ys[i+1] = ys[i] + h + gridPad
	}
	if xs[nc] > 1<<15 || ys[nr] > 1<<15 {
		return nil, fmt.Errorf("explain: Grid: figure would be %dx%d pixels", xs[nc], ys[nr])
	}
	img := image.NewRGBA(image.Rect(0, 0, xs[nc], ys[nr]))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for i, r := range rows {
		for j, cell := range r {
			if cell == nil {
				continue
			}
			b := cell.Bounds()
			at := image.Pt(xs[j]+(widths[j]-b.Dx())/2, ys[i]+(heights[i]-b.Dy())/2)
			draw.Draw(img, image.Rectangle{Min: at, Max: at.Add(b.Size())}, cell, b.Min, draw.Over)
		}
	}
	for i, s := range rowLabels {
		box := image.Rect(gridPad, ys[i], left-gridPad, ys[i]+heights[i])
		drawLabel(img, box, s)
	}
	for j, s := range colLabels {
		box := image.Rect(xs[j], gridPad, xs[j]+widths[j], gridPad+lineH)
		drawLabel(img, box, s)
	}
	return img, nil
}

// drawLabel draws s in black centred in box, clipped to it.
func drawLabel(img *image.RGBA, box image.Rectangle, s string) {
	if s == "" || box.Empty() {
		return
	}
	m := labelFace.Metrics()
	w := font.MeasureString(labelFace, s).Ceil()
	x := box.Min.X + max(0, (box.Dx()-w)/2)
	textH := (m.Ascent + m.Descent).Ceil()
	y := box.Min.Y + (box.Dy()-textH)/2 + m.Ascent.Ceil()
	d := font.Drawer{
		Dst:  img.SubImage(box).(*image.RGBA),
		Src:  image.NewUniform(color.Black),
		Face: labelFace,
		Dot:  fixed.P(x, y),
	}
	d.DrawString(s)
}

// Upscale returns img enlarged k times in each direction with
// nearest-neighbour sampling, so that small frames (32x32, say) stay visible
// and a Grid of them has room for its column labels. k = 1 returns img
// itself; k < 1 is an error.
func Upscale(img *image.RGBA, k int) (*image.RGBA, error) {
	if img == nil {
		return nil, fmt.Errorf("explain: Upscale: nil image")
	}
	if k < 1 {
		return nil, fmt.Errorf("explain: Upscale: factor %d, want >= 1", k)
	}
	if k == 1 {
		return img, nil
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := 0; y < b.Dy()*k; y++ {
		for x := 0; x < b.Dx()*k; x++ {
			out.SetRGBA(x, y, img.RGBAAt(b.Min.X+x/k, b.Min.Y+y/k))
		}
	}
	return out, nil
}
