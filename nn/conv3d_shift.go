package nn

import (
	"github.com/vidssl/vidssl/internal/blas"
)

// The row-shift lowering serves convolutions with stride 1 along W and a
// kernel wider than one (R3D-18's 3x3x3 convolutions, and the backward-data
// pass of the stride-1 ones). Instead of one vol2col row per kernel tap
// (kt, ci, kh, kw), vol2rows writes one row per (kt, ci, kh) holding whole
// zero-padded input rows, Wp = W + 2*pw wide, a third of the copying for a
// 3-wide kernel. The kw taps then read that matrix shifted by kw columns,
// one SGEMM each:
//
//	Ywide[:, q] = sum over kw of Wkw (Cout x Cin*kT*kH) * rows[:, q+kw]
//
// where q = r*Wp + wo runs over the block's output rows r on a grid Wp wide;
// the last kW-1 columns of each grid row are discarded (forward) or held at
// zero (backward filter).

// shiftable reports whether the row-shift lowering applies to g and pays.
// Each vol2col value feeds Cout multiply-adds and costs about as much as 15
// of them to copy (measured with OpenBLAS), so the lowering saves a fraction
// about 15/Cout * (kW-1)/kW of the SGEMM's time; it costs the SGEMM over the
// discarded grid columns, a fraction (kW-1)/Wo. It pays when
// Cout*kW < 15*Wo: at R3D-18's layer1 and layer2, not at layer3 and layer4,
// whose small frames waste a large share of the grid.
func (g *convGeom) shiftable() bool {
	return g.sw == 1 && g.kw > 1 && g.cout*g.kw < 15*g.ow
}

// wp is the padded input width, the width of the row-shift grid.
func (g *convGeom) wp() int { return g.w + 2*g.pw }

// krows is the number of rows of the row-shift matrix: kT*Cin*kH.
func (g *convGeom) krows() int { return g.cin * g.kt * g.kh }

// shiftBlockRows returns how many output rows go in one row-shift block.
func (g *convGeom) shiftBlockRows() int {
	rows := g.ot * g.oh
	r := g.blockFloats() / max(1, g.krows()*g.wp())
	r = max(r, minBlockCols/g.wp())
	r = min(max(r, 1), rows)
	nb := (rows + r - 1) / r
	return (rows + nb - 1) / nb
}

// vol2rows fills col (kT*Cin*kH x (r1-r0)*Wp) from the padded item in p,
// for output rows [r0, r1): row (kt, ci, kh) holds for each output row
// (to, ho) the padded input row (to*st+kt, ho*sh+kh) of channel ci. With
// stride 1 along H the rows of one output frame are contiguous in p, and
// are copied at once.
func vol2rows(p *paddedInput, r0, r1 int, col []float32) {
	g, xp, wp := p.g, p.x, p.wp // sw == 1: p.row == wp
	pb := (r1 - r0) * wp
	g.parFor(g.krows(), max(1, copyGrain/pb), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			kh := j % g.kh
			ci := (j / g.kh) % g.cin
			kt := j / (g.kh * g.cin)
			dst := col[j*pb : (j+1)*pb]
			for r := r0; r < r1; {
				to, ho := r/g.oh, r%g.oh
				end := min(r1, (to+1)*g.oh) // the rest of this output frame
				base := ((ci*p.tp+to*g.st+kt)*p.hp + ho*g.sh + kh) * wp
				if g.sh == 1 {
					copy(dst[(r-r0)*wp:(end-r0)*wp], xp[base:base+(end-r)*wp])
				} else {
					for i := 0; i < end-r; i++ {
						copy(dst[(r-r0+i)*wp:(r-r0+i+1)*wp], xp[base+i*g.sh*wp:base+i*g.sh*wp+wp])
					}
				}
				r = end
			}
		}
	})
}

// shiftRow returns the row of the row-shift matrix, (kt, ci, kh), that
// holds w's (co, ci, kt, kh, :) taps, whose index in w is j*kW, j = (co*Cin +
// ci)*kT*kH + kt*kH + kh.
func (g *convGeom) shiftRow(j int) int {
	kh := j % g.kh
	kt := (j / g.kh) % g.kt
	ci := (j / (g.kh * g.kt)) % g.cin
	return (kt*g.cin+ci)*g.kh + kh
}

// regroupByKw writes w (Cout, Cin, kT, kH, kW) as kW matrices Cout x
// (kT*Cin*kH) into wr, one per kw, with columns in vol2rows's row order.
func regroupByKw(g *convGeom, w, wr []float32) {
	kr := g.krows()
	for co := 0; co < g.cout; co++ {
		for j := 0; j < kr; j++ {
			src := w[(co*kr+j)*g.kw : (co*kr+j+1)*g.kw]
			jr := g.shiftRow(j)
			for kw, v := range src {
				wr[(kw*g.cout+co)*kr+jr] = v
			}
		}
	}
}

// shiftRun returns where the grid columns of output rows [s0, s1) start in
// a block of rows [r0, r1), and how many the products cover: all of them,
// but for the last run of the block, whose last kW-1 would read past it.
func (g *convGeom) shiftRun(r0, r1, s0, s1 int) (start, cols int) {
	start, cols = (s0-r0)*g.wp(), (s1-s0)*g.wp()
	if s1 == r1 {
		cols -= g.kw - 1
	}
	return start, cols
}

// conv3dForwardShift is conv3dForward's row-shift lowering, without bias.
func conv3dForwardShift(bl blas.Impl, g *convGeom, x, w, y []float32) {
	kr, wp, p := g.krows(), g.wp(), g.outSize()
	inN, outN := g.cin*g.inSize(), g.cout*p
	rows, total := g.shiftBlockRows(), g.ot*g.oh
	wbuf, cbuf, obuf := getScratch(len(w)), getScratch(kr*rows*wp), getScratch(g.cout*rows*wp)
	defer func() { putScratch(wbuf); putScratch(cbuf); putScratch(obuf) }()
	wr, col, wide := *wbuf, *cbuf, *obuf
	regroupByKw(g, w, wr)
	kk := g.cin * g.kh // rows per temporal tap
	xp := newPaddedInput(g, false)
	defer xp.release()
	for n := 0; n < g.n; n++ {
		yn := y[n*outN : (n+1)*outN]
		xp.load(x[n*inN : (n+1)*inN])
		for r0 := 0; r0 < total; r0 += rows {
			r1 := min(r0+rows, total)
			nr := r1 - r0
			pb := nr * wp
			c := col[:kr*pb]
			vol2rows(xp, r0, r1, c)
			// Frames whose temporal taps partly read padding use only the
			// rows of the others (tapRuns).
			g.tapRuns(r0, r1, func(s0, s1, a, b int) {
				start, cols := g.shiftRun(r0, r1, s0, s1)
				if a == b {
					for co := 0; co < g.cout; co++ {
						clear(wide[co*pb+start:][:cols])
					}
					return
				}
				for kw := 0; kw < g.kw; kw++ {
					beta := float32(1)
					if kw == 0 {
						beta = 0
					}
					bl.Sgemm(false, false, g.cout, cols, (b-a)*kk, 1, wr[kw*g.cout*kr+a*kk:], kr, c[a*kk*pb+start+kw:], pb, beta, wide[start:], pb)
				}
			})
			g.parFor(g.cout, max(1, copyGrain/pb), func(lo, hi int) {
				for co := lo; co < hi; co++ {
					for r := 0; r < nr; r++ {
						copy(yn[co*p+(r0+r)*g.ow:co*p+(r0+r+1)*g.ow], wide[co*pb+r*wp:co*pb+r*wp+g.ow])
					}
				}
			})
		}
	}
}

// conv3dBackwardFilterShift is conv3dBackwardFilter's row-shift lowering.
func conv3dBackwardFilterShift(bl blas.Impl, g *convGeom, x, dy, dw []float32) {
	kr, wp, p := g.krows(), g.wp(), g.outSize()
	inN, outN := g.cin*g.inSize(), g.cout*p
	rows, total := g.shiftBlockRows(), g.ot*g.oh
	wbuf, cbuf, obuf := getScratch(len(dw)), getScratch(kr*rows*wp), getScratch(g.cout*rows*wp)
	defer func() { putScratch(wbuf); putScratch(cbuf); putScratch(obuf) }()
	dwr, col, wide := *wbuf, *cbuf, *obuf
	clear(dwr)
	kk := g.cin * g.kh // rows per temporal tap
	xp := newPaddedInput(g, false)
	defer xp.release()
	for n := 0; n < g.n; n++ {
		dyn := dy[n*outN : (n+1)*outN]
		xp.load(x[n*inN : (n+1)*inN])
		for r0 := 0; r0 < total; r0 += rows {
			r1 := min(r0+rows, total)
			nr := r1 - r0
			pb := nr * wp
			c := col[:kr*pb]
			vol2rows(xp, r0, r1, c)
			// dy on the grid, zero in the columns that no output owns.
			g.parFor(g.cout, max(1, copyGrain/pb), func(lo, hi int) {
				for co := lo; co < hi; co++ {
					for r := 0; r < nr; r++ {
						d := wide[co*pb+r*wp : co*pb+(r+1)*wp]
						copy(d[:g.ow], dyn[co*p+(r0+r)*g.ow:co*p+(r0+r+1)*g.ow])
						clear(d[g.ow:])
					}
				}
			})
			g.tapRuns(r0, r1, func(s0, s1, a, b int) {
				if a == b {
					return
				}
				start, cols := g.shiftRun(r0, r1, s0, s1)
				for kw := 0; kw < g.kw; kw++ {
					bl.Sgemm(false, true, g.cout, (b-a)*kk, cols, 1, wide[start:], pb, c[a*kk*pb+start+kw:], pb, 1, dwr[kw*g.cout*kr+a*kk:], kr)
				}
			})
		}
	}
	for co := 0; co < g.cout; co++ {
		for j := 0; j < kr; j++ {
			d := dw[(co*kr+j)*g.kw : (co*kr+j+1)*g.kw]
			jr := g.shiftRow(j)
			for kw := range d {
				d[kw] = dwr[(kw*g.cout+co)*kr+jr]
			}
		}
	}
}
