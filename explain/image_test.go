package explain

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestColormapEnds(t *testing.T) {
	for _, tc := range []struct {
		cmap    Colormap
		lo, hi  color.RGBA
		uniform bool // lightness rises monotonically
	}{
		{Jet, color.RGBA{0, 0, 128, 255}, color.RGBA{128, 0, 0, 255}, false},
		{Inferno, color.RGBA{0, 0, 4, 255}, color.RGBA{252, 255, 164, 255}, true},
		{Viridis, color.RGBA{68, 1, 84, 255}, color.RGBA{253, 231, 37, 255}, true},
	} {
		name := tc.cmap.Name()
		if got := tc.cmap.At(0); got != tc.lo {
			t.Errorf("%s.At(0) = %v, want %v", name, got, tc.lo)
		}
		if got := tc.cmap.At(1); got != tc.hi {
			t.Errorf("%s.At(1) = %v, want %v", name, got, tc.hi)
		}
		if tc.cmap.At(-3) != tc.lo || tc.cmap.At(math.NaN()) != tc.lo || tc.cmap.At(7) != tc.hi {
			t.Errorf("%s: values outside [0, 1] are not clamped", name)
		}
		if !tc.uniform {
			continue
		}
		prev := -1.0
		for i := range 1001 {
			r, g, b := tc.cmap.rgb(float64(i) / 1000)
			l := 0.2126*r + 0.7152*g + 0.0722*b
			if l < prev-1e-9 {
				t.Errorf("%s: luma falls at %v", name, float64(i)/1000)
				break
			}
			prev = l
		}
	}
	if got := (Colormap{}).At(0.5); got != (color.RGBA{0, 0, 0, 255}) {
		t.Errorf("zero Colormap gives %v, want opaque black", got)
	}
}

func TestNewColormap(t *testing.T) {
	grey, err := NewColormap("grey", []Stop{{0, 0, 0, 0}, {1, 1, 1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := grey.At(0.5); got != (color.RGBA{128, 128, 128, 255}) {
		t.Errorf("grey.At(0.5) = %v", got)
	}
	for _, stops := range [][]Stop{
		nil,
		{{0, 0, 0, 0}},
		{{0.1, 0, 0, 0}, {1, 1, 1, 1}},
		{{0, 0, 0, 0}, {0.9, 1, 1, 1}},
		{{0, 0, 0, 0}, {0.5, 1, 1, 1}, {0.5, 1, 1, 1}, {1, 1, 1, 1}},
		{{0, 0, 0, 0}, {1, 1, 2, 1}},
		{{0, 0, math.NaN(), 0}, {1, 1, 1, 1}},
	} {
		if _, err := NewColormap("bad", stops); err == nil {
			t.Errorf("NewColormap(%v) gave no error", stops)
		}
	}
}

func TestOverlay(t *testing.T) {
	const h, w = 3, 4
	heat := make([]float32, h*w)
	for i := range heat {
		heat[i] = float32(i) / float32(h*w-1)
	}
	grey := make([]uint8, h*w)
	rgb := make([]uint8, 3*h*w)
	for i := range grey {
		grey[i] = uint8(20 * i)
		rgb[3*i], rgb[3*i+1], rgb[3*i+2] = uint8(i), uint8(100+i), uint8(200+i)
	}
	for _, f := range []struct {
		pix []uint8
		c   int
	}{{grey, 1}, {rgb, 3}} {
		img, err := Overlay(f.pix, h, w, f.c, heat, Jet, 0)
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds() != image.Rect(0, 0, w, h) {
			t.Fatalf("bounds %v", img.Bounds())
		}
		for i := range h * w {
			want := color.RGBA{grey[i], grey[i], grey[i], 255}
			if f.c == 3 {
				want = color.RGBA{rgb[3*i], rgb[3*i+1], rgb[3*i+2], 255}
			}
			if got := img.RGBAAt(i%w, i/w); got != want {
				t.Errorf("c=%d alpha=0: pixel %d = %v, want the frame's %v", f.c, i, got, want)
			}
		}
		img, err = Overlay(f.pix, h, w, f.c, heat, Inferno, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i := range h * w {
			if got, want := img.RGBAAt(i%w, i/w), Inferno.At(float64(heat[i])); got != want {
				t.Errorf("c=%d alpha=1: pixel %d = %v, want the colour map's %v", f.c, i, got, want)
			}
		}
	}
	img, err := Overlay([]uint8{200}, 1, 1, 1, []float32{1}, Jet, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := img.RGBAAt(0, 0), (color.RGBA{164, 100, 100, 255}); got != want {
		t.Errorf("half blend = %v, want %v", got, want)
	}

	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"channels", func() error { _, err := Overlay(make([]uint8, 2*h*w), h, w, 2, heat, Jet, 0.5); return err }, "2 channels"},
		{"frame size", func() error { _, err := Overlay(grey[:5], h, w, 1, heat, Jet, 0.5); return err }, "frame has 5 values"},
		{"heat size", func() error { _, err := Overlay(grey, h, w, 1, heat[:3], Jet, 0.5); return err }, "heatmap has 3 values"},
		{"alpha", func() error { _, err := Overlay(grey, h, w, 1, heat, Jet, 1.5); return err }, "alpha 1.5"},
		{"alpha NaN", func() error { _, err := Overlay(grey, h, w, 1, heat, Jet, math.NaN()); return err }, "alpha NaN"},
		{"heat NaN", func() error {
			_, err := Overlay([]uint8{1}, 1, 1, 1, []float32{float32(math.NaN())}, Jet, 0.5)
			return err
		}, "heat[0] is NaN"},
		{"zero size", func() error { _, err := Colorize(nil, 0, 3, Jet); return err }, "dimension 0 is 0"},
	} {
		if err := tc.err(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestColorize(t *testing.T) {
	img, err := Colorize([]float32{0, 0.5, 1, 2}, 2, 2, Viridis)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []float64{0, 0.5, 1, 1} {
		if got, want := img.RGBAAt(i%2, i/2), Viridis.At(v); got != want {
			t.Errorf("pixel %d = %v, want %v", i, got, want)
		}
	}
}

func solid(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func TestGrid(t *testing.T) {
	red, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}
	rows := [][]*image.RGBA{
		{solid(10, 8, red), solid(10, 8, red), solid(10, 8, red)},
		{solid(10, 8, blue), nil, solid(6, 4, blue)},
	}
	img, err := Grid(rows, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 3 columns of 10, 2 rows of 8, gaps of gridPad.
	if want := image.Rect(0, 0, 3*10+4*gridPad, 2*8+3*gridPad); img.Bounds() != want {
		t.Fatalf("unlabelled grid bounds %v, want %v", img.Bounds(), want)
	}
	white := color.RGBA{255, 255, 255, 255}
	for _, p := range []struct {
		x, y int
		c    color.RGBA
	}{
		{0, 0, white},
		{gridPad, gridPad, red},
		{gridPad + 9, gridPad + 7, red},
		{gridPad + 10, gridPad, white},
		{2*gridPad + 10, gridPad, red},
		{gridPad, 2*gridPad + 8, blue},
		{2*gridPad + 10, 2*gridPad + 8, white},        // nil cell
		{3*gridPad + 20 + 2, 2*gridPad + 8 + 2, blue}, // small cell, centred
		{3*gridPad + 20, 2*gridPad + 8, white},        // its margin
	} {
		if got := img.RGBAAt(p.x, p.y); got != p.c {
			t.Errorf("pixel (%d, %d) = %v, want %v", p.x, p.y, got, p.c)
		}
	}

	labelled, err := Grid(rows, []string{"Kinetics-400", "MI-SimCLR+FO"}, []string{"video 1", "video 2", "v3"})
	if err != nil {
		t.Fatal(err)
	}
	b := labelled.Bounds()
	if b.Dx() <= img.Bounds().Dx() || b.Dy() <= img.Bounds().Dy() {
		t.Fatalf("labelled grid %v is not larger than unlabelled %v", b, img.Bounds())
	}
	// Left of the cells and above them there must be ink.
	dx, dy := b.Dx()-img.Bounds().Dx(), b.Dy()-img.Bounds().Dy()
	if !hasInk(labelled, image.Rect(0, dy, dx, b.Dy())) {
		t.Error("no row labels drawn")
	}
	if !hasInk(labelled, image.Rect(dx, 0, b.Dx(), dy)) {
		t.Error("no column labels drawn")
	}
	if got := labelled.RGBAAt(dx+gridPad, dy+gridPad); got != red {
		t.Errorf("first cell moved: pixel = %v, want red", got)
	}

	for _, tc := range []struct {
		rows   [][]*image.RGBA
		rl, cl []string
		want   string
	}{
		{nil, nil, nil, "no cells"},
		{[][]*image.RGBA{{}}, nil, nil, "no cells"},
		{rows, []string{"one"}, nil, "1 row labels for 2 rows"},
		{rows, nil, []string{"a", "b"}, "2 column labels for 3 columns"},
	} {
		if _, err := Grid(tc.rows, tc.rl, tc.cl); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Grid error %v, want one containing %q", err, tc.want)
		}
	}
}

// hasInk reports whether r holds a dark pixel.
func hasInk(img *image.RGBA, r image.Rectangle) bool {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if c := img.RGBAAt(x, y); c.R < 128 && c.G < 128 && c.B < 128 {
				return true
			}
		}
	}
	return false
}

func TestWritePNG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "heat.png")
	heat := []float32{0, 0.25, 0.5, 0.75, 1, 0.1}
	img, err := Colorize(heat, 2, 3, Jet)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WritePNG(path, img); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if dec.Bounds() != img.Bounds() {
		t.Fatalf("decoded bounds %v, want %v", dec.Bounds(), img.Bounds())
	}
	for y := range 2 {
		for x := range 3 {
			if got, want := color.RGBAModel.Convert(dec.At(x, y)), img.RGBAAt(x, y); got != want {
				t.Errorf("decoded pixel (%d, %d) = %v, want %v", x, y, got, want)
			}
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Errorf("directory holds %d files after WritePNG, want 1 (no temporary left)", len(ents))
	}

	if err := WritePNG(filepath.Join(dir, "missing", "x.png"), img); err == nil {
		t.Error("WritePNG into a missing directory gave no error")
	}
	if err := WritePNG(filepath.Join(dir, "nil.png"), nil); err == nil {
		t.Error("WritePNG(nil) gave no error")
	}
	// An image PNG cannot encode leaves the old file and no temporary.
	if err := WritePNG(path, image.NewRGBA(image.Rect(0, 0, 0, 0))); err == nil {
		t.Error("WritePNG of an empty image gave no error")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d files after a failed WritePNG, want 1", len(ents))
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("failed WritePNG removed the old file: %v", err)
	}
}

func TestUpscale(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 2, 1))
	img.SetRGBA(0, 0, color.RGBA{255, 0, 0, 255})
	img.SetRGBA(1, 0, color.RGBA{0, 0, 255, 255})
	big, err := Upscale(img, 3)
	if err != nil {
		t.Fatal(err)
	}
	if b := big.Bounds(); b.Dx() != 6 || b.Dy() != 3 {
		t.Fatalf("size %v, want 6x3", b)
	}
	for y := range 3 {
		for x := range 6 {
			want := img.RGBAAt(x/3, 0)
			if got := big.RGBAAt(x, y); got != want {
				t.Errorf("pixel (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
	if same, err := Upscale(img, 1); err != nil || same != img {
		t.Errorf("k = 1: %p, %v; want the image itself", same, err)
	}
	for _, k := range []int{0, -2} {
		if _, err := Upscale(img, k); err == nil {
			t.Errorf("k = %d: no error", k)
		}
	}
	if _, err := Upscale(nil, 2); err == nil {
		t.Error("nil image: no error")
	}
}
