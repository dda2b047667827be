package echosynth

import (
	"math"
	"testing"

	"github.com/vidssl/vidssl/video"
)

// ncc is the normalised cross-correlation of the h x w patch of frame a at
// (y0, x0) with the patch of frame b shifted by (dy, dx).
func ncc(v *video.Video, a, b, y0, x0, h, w, dy, dx int) float64 {
	fa, fb := v.Frame(a), v.Frame(b)
	var sa, sb, saa, sbb, sab float64
	n := float64(h * w)
	for y := y0; y < y0+h; y++ {
		for x := x0; x < x0+w; x++ {
			p := float64(fa[y*v.W+x])
			q := float64(fb[(y+dy)*v.W+x+dx])
			sa += p
			sb += q
			saa += p * p
			sbb += q * q
			sab += p * q
		}
	}
	cov := sab/n - sa/n*sb/n
	va, vb := saa/n-sa/n*sa/n, sbb/n-sb/n*sb/n
	if va <= 0 || vb <= 0 {
		return 0
	}
	return cov / math.Sqrt(va*vb)
}

// TestSpeckleMovesWithTissue tracks the speckle of the posterior wall from
// frame to frame in systole, as speckle-tracking echocardiography does: the
// best-matching shift of a patch must be the wall's own motion, and the
// match must be good. Speckle fixed to the scanner (the old model) matches
// best at no shift.
func TestSpeckleMovesWithTissue(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Studies = 12
	cfg.Frames = 16
	cfg.FPS = 15
	var pairs, agree int
	var peak float64
	for _, st := range mustStudies(t, cfg) {
		v, info, err := Generate(cfg, st.Index, 0)
		if err != nil {
			t.Fatal(err)
		}
		a := &st.Anatomy
		tau := -info.TiltDeg * math.Pi / 180
		cosT, sinT := math.Cos(tau), math.Sin(tau)
		// pixel returns the image position of heart point (u, v) in frame f.
		pixel := func(f int, u, vv float64) (float64, float64) {
			fr := info.Frames[f]
			return fr.ValveY + (sinT*u+cosT*vv)/info.CMPerPixel, fr.ValveX + (cosT*u-sinT*vv)/info.CMPerPixel
		}
		geom := func(f int) *frameGeom {
			fr := info.Frames[f]
			return newFrameGeom(a, fr.Contraction, fr.AorticOpen, fr.MitralOpen, info.CMPerPixel)
		}
		for f := 0; f+1 < v.T; f++ {
			c0, c1 := info.Frames[f].Contraction, info.Frames[f+1].Contraction
			if c1-c0 < 0.2 || f%speckleStep(cfg.FPS) == speckleStep(cfg.FPS)-1 {
				continue // not systole, or the speckle pattern is changing over
			}
			// The middle of the posterior wall 2 cm towards the apex.
			const u = -2.0
			g0, g1 := geom(f), geom(f+1)
			y0, x0 := pixel(f, u, g0.vP(u)+g0.pw/2)
			y1, x1 := pixel(f+1, u, g1.vP(u)+g1.pw/2)
			const h, w, r = 5, 11, 5
			py, px := int(math.Round(y0))-h/2, int(math.Round(x0))-w/2
			if py-r < 0 || px-r < 0 || py+h+r > v.H || px+w+r > v.W {
				continue
			}
			best, by, bx := -2.0, 0, 0
			for dy := -r; dy <= r; dy++ {
				for dx := -r; dx <= r; dx++ {
					if c := ncc(v, f, f+1, py, px, h, w, dy, dx); c > best {
						best, by, bx = c, dy, dx
					}
				}
			}
			wy, wx := y1-y0, x1-x0
			t.Logf("%s frame %d: wall moves (%.1f, %.1f) px, speckle best at (%d, %d), ncc %.2f (at no shift %.2f)",
				st.ID, f, wy, wx, by, bx, best, ncc(v, f, f+1, py, px, h, w, 0, 0))
			pairs++
			peak += best
			if math.Abs(float64(by)-wy) <= 1 && math.Abs(float64(bx)-wx) <= 1 {
				agree++
			}
		}
	}
	if pairs < 8 {
		t.Fatalf("only %d systolic frame pairs", pairs)
	}
	t.Logf("%d of %d systolic frame pairs track the wall; mean peak ncc %.2f", agree, pairs, peak/float64(pairs))
	if agree < pairs*3/4 || peak/float64(pairs) < 0.5 {
		t.Errorf("speckle does not follow the posterior wall")
	}
}
