// Command gen draws docs/echosynth-gallery.png: synthetic echosynth PLAX
// frames of four patients, one per aortic stenosis grade (none, mild,
// moderate, severe), across the cardiac cycle.
//
// Each row is video 0 of a study of echosynth.DefaultConfig (seed 1,
// 200 studies, 72 frames per video here): of the six studies of the grade
// whose Anatomy.SeverityScore lies nearest the middle of the grade's
// interval, the one whose video has the gain nearest 0 dB, so that
// brightness differs little between rows. Its columns are four 112x112
// frames of one beat shown at twice their size, picked with the video's
// VideoInfo: end-diastole (the first frame after the QRS, valve shut),
// mid-systole (the aortic valve open widest), end-systole (the LV smallest)
// and early diastole (the mitral valve open widest), then two 28x28 crops around the aortic valve,
// closed (end-diastole) and open (mid-systole), shown eight times enlarged.
// A yellow box on the mid-systole frame marks the crop. The label column
// gives the grade, the severity score, the appearance score that sets the
// cusps' look (Anatomy.AppearanceScore), the cusps' largest opening angle
// (Anatomy.OpeningDeg), their thickness and the video's gain.
//
// Run it from the repository root:
//
//	go run ./docs/gen [-out docs/echosynth-gallery.png]
package main

import (
	"cmp"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"slices"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"github.com/vidssl/vidssl/video"
	"github.com/vidssl/vidssl/video/echosynth"
)

// Layout, in output pixels.
const (
	frameScale = 2   // enlargement of whole frames
	cropSize   = 28  // side of the valve crop in frame pixels
	cropScale  = 8   // enlargement of the crops
	tile       = 224 // side of every tile: 112*2 = 28*8
	gap        = 4   // between tiles
	labelW     = 112 // left label column
	headerH    = 20  // top header row
	nFrames    = 72  // frames generated per video (over two beats)
	candidates = 6   // studies per grade whose gains are compared
)

// Palette: 240 grey levels, then the colours of the annotations.
const (
	greyLevels = 240
	idxYellow  = greyLevels
	idxWhite   = greyLevels + 1
	idxCyan    = greyLevels + 2
)

// gradeMiddle is the middle of each grade's SeverityScore interval.
var gradeMiddle = [4]float64{0.09, 0.335, 0.565, 0.84}

// row is one patient of the gallery.
type row struct {
	study echosynth.Study
	v     *video.Video
	info  *echosynth.VideoInfo
	cols  [4]int // frame indices: ED, mid-systole, ES, early diastole
}

func main() {
	out := flag.String("out", "docs/echosynth-gallery.png", "output PNG")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	cfg := echosynth.DefaultConfig()
	cfg.Frames = nFrames
	studies, err := echosynth.Studies(cfg)
	if err != nil {
		return err
	}
	var rows []row
	for g := echosynth.None; g <= echosynth.Severe; g++ {
		// The candidates nearest the middle of the grade; of these, the one
		// whose video has the gain nearest 0 dB, so that the rows differ
		// by their valves more than by their brightness.
		var cand []int
		for i, st := range studies {
			if st.Severity == g {
				cand = append(cand, i)
			}
		}
		if len(cand) == 0 {
			return fmt.Errorf("no %s study in the data set", g)
		}
		dist := func(i int) float64 { return math.Abs(studies[i].Anatomy.SeverityScore - gradeMiddle[g]) }
		slices.SortStableFunc(cand, func(a, b int) int { return cmp.Compare(dist(a), dist(b)) })
		var best *row
		for _, i := range cand[:min(len(cand), candidates)] {
			v, info, err := echosynth.Generate(cfg, i, 0)
			if err != nil {
				return err
			}
			if best == nil || math.Abs(info.GainDB) < math.Abs(best.info.GainDB) {
				best = &row{study: studies[i], v: v, info: info}
			}
		}
		best.cols = pickFrames(best.info)
		rows = append(rows, *best)
	}

	colTitles := []string{"end-diastole", "mid-systole", "end-systole", "early diastole", "valve shut", "valve open"}
	width := labelW + len(colTitles)*(tile+gap)
	height := headerH + len(rows)*(tile+gap)
	img := image.NewPaletted(image.Rect(0, 0, width, height), palette())

	for c, t := range colTitles {
		drawText(img, t, labelW+c*(tile+gap)+(tile-7*len(t))/2, 14, idxWhite)
	}
	for r, rw := range rows {
		y0 := headerH + r*(tile+gap)
		a := rw.study.Anatomy
		lines := []struct {
			s   string
			idx uint8
		}{
			{rw.study.Severity.String(), idxYellow},
			{fmt.Sprintf("score %.2f", a.SeverityScore), idxWhite},
			{fmt.Sprintf("look %.2f", a.AppearanceScore), idxWhite},
			{fmt.Sprintf("opening %.0f deg", a.OpeningDeg), idxWhite},
			{fmt.Sprintf("cusp %.2f cm", a.LeafletThickness), idxWhite},
			{fmt.Sprintf("gain %+.1f dB", rw.info.GainDB), idxWhite},
			{rw.info.Name, idxCyan},
			{fmt.Sprintf("%.0f bpm", rw.info.HeartRateBPM), idxCyan},
		}
		for i, l := range lines {
			drawText(img, l.s, 6, y0+tile/2-len(lines)*8+16*i+12, l.idx)
		}
		for c, f := range rw.cols {
			x0 := labelW + c*(tile+gap)
			blit(img, rw.v.Frame(f), rw.v.W, 0, 0, rw.v.W, rw.v.H, x0, y0, frameScale)
		}
		// The valve crops, closed and open, and the crop box on the
		// mid-systole frame.
		for k, f := range []int{rw.cols[0], rw.cols[1]} {
			cx, cy := cropOrigin(rw.info.Frames[f], rw.v.W, rw.v.H)
			x0 := labelW + (4+k)*(tile+gap)
			blit(img, rw.v.Frame(f), rw.v.W, cx, cy, cropSize, cropSize, x0, y0, cropScale)
			if k == 1 {
				bx := labelW + 1*(tile+gap) + cx*frameScale
				by := y0 + cy*frameScale
				drawBox(img, bx, by, cropSize*frameScale, idxYellow)
			}
		}
	}

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s: %dx%d, %d bytes\n", out, width, height, st.Size())
	for _, rw := range rows {
		fmt.Printf("  %-8s %s score %.2f frames %v\n", rw.study.Severity, rw.info.Name, rw.study.Anatomy.SeverityScore, rw.cols)
	}
	return nil
}

// pickFrames returns four frames of one beat of a video: end-diastole (the
// first frame after a QRS with the valve shut, chosen so that the whole beat
// follows in the video), mid-systole (the aortic valve open widest),
// end-systole (the largest contraction) and early diastole (the mitral
// valve open widest).
func pickFrames(info *echosynth.VideoInfo) [4]int {
	fr := info.Frames
	start, end := 0, len(fr)
	for f := 1; f < len(fr); f++ {
		if fr[f].Phase < fr[f-1].Phase { // a QRS between f-1 and f
			start = f
			for start < len(fr)-1 && fr[start].AorticOpen > 0 {
				start++
			}
			break
		}
	}
	for f := start + 1; f < len(fr); f++ {
		if fr[f].Phase < fr[f-1].Phase { // the next QRS ends the beat
			end = f
			break
		}
	}
	cols := [4]int{start, start, start, start}
	for f := start; f < end; f++ {
		if fr[f].AorticOpen > fr[cols[1]].AorticOpen {
			cols[1] = f
		}
		if fr[f].Contraction > fr[cols[2]].Contraction {
			cols[2] = f
		}
		if fr[f].MitralOpen > fr[cols[3]].MitralOpen {
			cols[3] = f
		}
	}
	return cols
}

// cropOrigin returns the top-left corner of the cropSize crop around the
// aortic valve of a frame, a little towards the aorta (right), kept inside
// the w x h frame.
func cropOrigin(fi echosynth.FrameInfo, w, h int) (int, int) {
	x := int(math.Round(fi.ValveX)) - cropSize/2 + cropSize/6
	y := int(math.Round(fi.ValveY)) - cropSize/2
	return min(max(x, 0), w-cropSize), min(max(y, 0), h-cropSize)
}

// palette returns greyLevels grey levels followed by the annotation colours.
func palette() color.Palette {
	p := make(color.Palette, 0, greyLevels+3)
	for i := range greyLevels {
		g := uint8((i*255 + (greyLevels-1)/2) / (greyLevels - 1))
		p = append(p, color.Gray{Y: g})
	}
	return append(p,
		color.RGBA{255, 210, 0, 255},   // idxYellow
		color.RGBA{255, 255, 255, 255}, // idxWhite
		color.RGBA{120, 220, 255, 255}, // idxCyan
	)
}

// greyIndex maps a grey level to its palette index.
func greyIndex(g uint8) uint8 {
	return uint8((int(g)*(greyLevels-1) + 127) / 255)
}

// blit copies the w x h window at (sx, sy) of a grey frame whose rows are
// stride pixels long into img at (dx, dy), enlarged k times.
func blit(img *image.Paletted, frame []uint8, stride, sx, sy, w, h, dx, dy, k int) {
	for y := range h * k {
		for x := range w * k {
			g := frame[(sy+y/k)*stride+sx+x/k]
			img.SetColorIndex(dx+x, dy+y, greyIndex(g))
		}
	}
}

// drawBox draws the outline of an n x n square with its corner at (x, y).
func drawBox(img *image.Paletted, x, y, n int, idx uint8) {
	for i := range n {
		img.SetColorIndex(x+i, y, idx)
		img.SetColorIndex(x+i, y+n-1, idx)
		img.SetColorIndex(x, y+i, idx)
		img.SetColorIndex(x+n-1, y+i, idx)
	}
}

// drawText writes s in basicfont's 7x13 face with its baseline at y.
func drawText(img *image.Paletted, s string, x, y int, idx uint8) {
	d := font.Drawer{
		Dst:  img,
		Src:  image.NewUniform(img.Palette[idx]),
		Face: basicfont.Face7x13,
		Dot:  fixed.P(x, y),
	}
	d.DrawString(s)
}
