package echosynth

import (
	"math"
	"strconv"
)

// glyphs is a 3x5 pixel font: five rows of three columns per character,
// '#' for a lit pixel.
var glyphs = map[rune][5]string{
	'0': {"###", "#.#", "#.#", "#.#", "###"},
	'1': {".#.", "##.", ".#.", ".#.", "###"},
	'2': {"###", "..#", "###", "#..", "###"},
	'3': {"###", "..#", ".##", "..#", "###"},
	'4': {"#.#", "#.#", "###", "..#", "..#"},
	'5': {"###", "#..", "###", "..#", "###"},
	'6': {"###", "#..", "###", "#.#", "###"},
	'7': {"###", "..#", ".#.", ".#.", ".#."},
	'8': {"###", "#.#", "###", "#.#", "###"},
	'9': {"###", "#.#", "###", "..#", "###"},
	'A': {".#.", "#.#", "###", "#.#", "#.#"},
	'B': {"##.", "#.#", "##.", "#.#", "##."},
	'C': {".##", "#..", "#..", "#..", ".##"},
	'D': {"##.", "#.#", "#.#", "#.#", "##."},
	'E': {"###", "#..", "##.", "#..", "###"},
	'F': {"###", "#..", "##.", "#..", "#.."},
	'G': {".##", "#..", "#.#", "#.#", ".##"},
	'H': {"#.#", "#.#", "###", "#.#", "#.#"},
	'I': {"###", ".#.", ".#.", ".#.", "###"},
	'K': {"#.#", "#.#", "##.", "#.#", "#.#"},
	'L': {"#..", "#..", "#..", "#..", "###"},
	'M': {"#.#", "###", "###", "#.#", "#.#"},
	'N': {"##.", "#.#", "#.#", "#.#", "#.#"},
	'O': {".#.", "#.#", "#.#", "#.#", ".#."},
	'P': {"##.", "#.#", "##.", "#..", "#.."},
	'R': {"##.", "#.#", "##.", "#.#", "#.#"},
	'S': {".##", "#..", ".#.", "..#", "##."},
	'T': {"###", ".#.", ".#.", ".#.", ".#."},
	'V': {"#.#", "#.#", "#.#", "#.#", ".#."},
	'X': {"#.#", "#.#", ".#.", "#.#", "#.#"},
	'Z': {"###", "..#", ".#.", "#..", "###"},
	'-': {"...", "...", "###", "...", "..."},
	':': {"...", ".#.", "...", ".#.", "..."},
	'.': {"...", "...", "...", "...", ".#."},
	'/': {"..#", "..#", ".#.", "#..", "#.."},
}

// canvas draws into one frame, never inside the sector (plus a margin), so
// that burned-in text and the ECG stay separate from the image.
type canvas struct {
	pix  []uint8
	h, w int
	keep []bool // true where drawing is allowed
}

func (c *canvas) set(x, y int, val uint8) {
	if x < 0 || y < 0 || x >= c.w || y >= c.h || !c.keep[y*c.w+x] {
		return
	}
	c.pix[y*c.w+x] = val
}

// textWidth is the width in pixels of s at the given scale.
func textWidth(s string, scale int) int { return (4*len(s) - 1) * scale }

// text draws s with its top-left corner at (x, y).
func (c *canvas) text(s string, x, y, scale int, val uint8) {
	for _, r := range s {
		g, ok := glyphs[r]
		if ok {
			for gy, row := range g {
				for gx := range 3 {
					if row[gx] != '#' {
						continue
					}
					for sy := range scale {
						for sx := range scale {
							c.set(x+gx*scale+sx, y+gy*scale+sy, val)
						}
					}
				}
			}
		}
		x += 4 * scale
	}
}

// line draws a vertical run from y0 to y1 in column x.
func (c *canvas) vline(x, y0, y1 int, val uint8) {
	if y0 > y1 {
		y0, y1 = y1, y0
	}
	for y := y0; y <= y1; y++ {
		c.set(x, y, val)
	}
}

// overlayInfo is what the overlay shows.
type overlayInfo struct {
	patient, date, clock string
	depthCM              float64
	fps                  float64
	textVal, ecgVal      uint8
	cyc                  cycle
	phase0               float64 // cardiac phase at frame 0
}

// drawOverlay draws the burned-in text, the depth marks beside the sector
// and the ECG trace, which scrolls so that its right end is the time of
// frame f.
func drawOverlay(c *canvas, s *scene, info *overlayInfo, f int) {
	scale := max(1, c.h/112)
	lh := 6 * scale
	x0, y0 := 1+scale, 1+scale
	depth := strconv.Itoa(int(math.Round(info.depthCM)))
	left := []string{"ID " + info.patient[1:], info.date, info.clock}
	right := []string{"PLAX", depth + "CM", strconv.Itoa(int(math.Round(info.fps))) + "HZ"}
	if c.w < 80 {
		// Small frames have room for little beside the sector.
		left = []string{info.patient[len(info.patient)-3:]}
		right = []string{depth}
	}
	for i, l := range left {
		c.text(l, x0, y0+i*lh, scale, info.textVal)
	}
	for i, r := range right {
		c.text(r, c.w-x0-textWidth(r, scale), y0+i*lh, scale, info.textVal)
	}

	// Depth marks along the right edge of the sector: every cm when there
	// is room, every 5 cm otherwise.
	pxPerCM := 1 / s.cmPerPx
	step := 1
	if pxPerCM < 4 {
		step = 5
	}
	sn, cs := math.Sin(s.half), math.Cos(s.half)
	for d := step; float64(d) <= info.depthCM; d += step {
		r := float64(d) * pxPerCM
		x := s.apexX + r*sn + 5*cs
		y := s.apexY + r*cs - 5*sn
		xi, yi := int(math.Round(x)), int(math.Round(y))
		c.set(xi, yi, info.textVal)
		if d%5 == 0 {
			c.set(xi+1, yi, info.textVal)
			c.set(xi, yi+1, info.textVal)
			c.set(xi+1, yi+1, info.textVal)
		}
	}

	// ECG: a band along the bottom, 2.5 s across the frame.
	top := int(math.Round(s.apexY + s.radius + 0.03*float64(c.h)))
	bottom := c.h - 2
	if bottom-top < 2 {
		return
	}
	mid := float64(top) + 0.65*float64(bottom-top)
	amp := 0.6 * float64(bottom-top)
	sweep := 2.5
	now := float64(f) / info.fps
	prev := 0
	for x := 0; x < c.w; x++ {
		t := now - float64(c.w-1-x)*sweep/float64(c.w)
		tc := math.Mod(info.phase0*info.cyc.rr+t, info.cyc.rr)
		if tc < 0 {
			tc += info.cyc.rr
		}
		y := int(math.Round(mid - amp*info.cyc.ecg(tc)))
		y = min(bottom, max(top, y))
		if x == 0 {
			prev = y
		}
		c.vline(x, prev, y, info.ecgVal)
		prev = y
	}
}
