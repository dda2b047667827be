package conv3d

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
//
// With a stride s > 1 along W the padded rows are stored in s phases
// (paddedInput), columns w with the same w mod s together, and vol2rows
// writes one matrix per phase, its rows Wq = ceil(Wp/s) wide: tap kw reads
// the matrix of phase kw mod s shifted by kw/s columns, on a grid Wq wide
// (R3D-18's stem: 7 taps at stride 2 read 2 matrices of 27 columns per
// output row of 24, against 7 vol2col rows of 24).

// shiftable reports whether the row-shift lowering applies to g and pays.
// Each vol2col value feeds Cout multiply-adds and costs about as much as 15
// of them to copy (measured with OpenBLAS), so the lowering saves a fraction
// about 15/Cout * (kW-1)/kW of the SGEMM's time; it costs the SGEMM over the
// discarded grid columns, a fraction (kW-1)/Wo. It pays when
// Cout*kW < 15*Wo: at R3D-18's layer1 and layer2, not at layer3 and layer4,
// whose small frames waste a large share of the grid.
//
// With a stride along W it applies only to the parts of a batch split over
// goroutines (splitItems, small convolutions), where it was measured.
func (g *Geom) shiftable() bool {
	return (g.sw == 1 || g.serial) && g.kw > 1 && g.cout*g.kw < 15*g.ow
}

// wp is the padded input width.
func (g *Geom) wp() int { return g.w + 2*g.pw }

// phases is the number of phases the padded rows are stored in: the stride
// along W when the kernel is wider than one (as paddedInput), else 1.
func (g *Geom) phases() int {
	if g.sw > 1 && g.kw > 1 {
		return g.sw
	}
	return 1
}

// gridW is the width of the row-shift grid: the length of a phase, Wp when
// there is one.
func (g *Geom) gridW() int { return (g.wp() + g.phases() - 1) / g.phases() }

// shiftTap returns which phase's matrix tap kw reads, and its shift in
// columns.
func (g *Geom) shiftTap(kw int) (phase, shift int) { return kw % g.phases(), kw / g.phases() }

// krows is the number of rows of the row-shift matrix: kT*Cin*kH.
func (g *Geom) krows() int { return g.cin * g.kt * g.kh }

// shiftBlockRows returns how many output rows go in one row-shift block.
func (g *Geom) shiftBlockRows() int {
	rows := g.ot * g.oh
	r := g.blockFloats() / max(1, g.phases()*g.krows()*g.gridW())
	r = max(r, minBlockCols/g.gridW())
	r = min(max(r, 1), rows)
	nb := (rows + r - 1) / r
	return (rows + nb - 1) / nb
}

// vol2rows fills col, one matrix per phase of kT*Cin*kH rows of
// (r1-r0)*Wq values each, from the padded item in p, for output rows [r0,
// r1): row (kt, ci, kh) of phase f holds for each output row (to, ho) phase
// f of the padded input row (to*st+kt, ho*sh+kh) of channel ci. With one
// phase and stride 1 along H the rows of one output frame are contiguous in
// p, and are copied at once.
func vol2rows(p *paddedInput, r0, r1 int, col []float32) {
	g, xp, wq := p.g, p.x, p.wq
	pb, kr := (r1-r0)*wq, g.krows()
	g.parFor(kr, max(1, copyGrain/(p.phases*pb)), func(lo, hi int) {
		for j := lo; j < hi; j++ {
			kh := j % g.kh
			ci := (j / g.kh) % g.cin
			kt := j / (g.kh * g.cin)
			for r := r0; r < r1; {
				to, ho := r/g.oh, r%g.oh
				end := min(r1, (to+1)*g.oh) // the rest of this output frame
				base := ((ci*p.tp+to*g.st+kt)*p.hp + ho*g.sh + kh) * p.row
				if g.sh == 1 && p.phases == 1 {
					dst := col[j*pb : (j+1)*pb]
					copy(dst[(r-r0)*wq:(end-r0)*wq], xp[base:base+(end-r)*wq])
					r = end
					continue
				}
				for i := 0; i < end-r; i++ {
					src := xp[base+i*g.sh*p.row:][:p.row]
					for f := 0; f < p.phases; f++ {
						copy(col[(f*kr+j)*pb+(r-r0+i)*wq:][:wq], src[f*wq:(f+1)*wq])
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
func (g *Geom) shiftRow(j int) int {
	kh := j % g.kh
	kt := (j / g.kh) % g.kt
	ci := (j / (g.kh * g.kt)) % g.cin
	return (kt*g.cin+ci)*g.kh + kh
}

// regroupByKw writes w (Cout, Cin, kT, kH, kW) as kW matrices Cout x
// (kT*Cin*kH) into wr, one per kw, with columns in vol2rows's row order.
func regroupByKw(g *Geom, w, wr []float32) {
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
// but for the last run of the block, whose last (kW-1)/phases would read
// past it.
func (g *Geom) shiftRun(r0, r1, s0, s1 int) (start, cols int) {
	start, cols = (s0-r0)*g.gridW(), (s1-s0)*g.gridW()
	if s1 == r1 {
		cols -= (g.kw - 1) / g.phases()
	}
	return start, cols
}

// forwardShift is Forward's row-shift lowering, without bias.
func forwardShift(bl blas.Impl, g *Geom, x, w, y []float32) {
	kr, wp, p := g.krows(), g.gridW(), g.outSize()
	inN, outN := g.cin*g.inSize(), g.cout*p
	rows, total := g.shiftBlockRows(), g.ot*g.oh
	wbuf, cbuf, obuf := getScratch(len(w)), getScratch(g.phases()*kr*rows*wp), getScratch(g.cout*rows*wp)
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
			c := col[:g.phases()*kr*pb]
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
					f, sh := g.shiftTap(kw)
					bl.Sgemm(false, false, g.cout, cols, (b-a)*kk, 1, wr[kw*g.cout*kr+a*kk:], kr, c[(f*kr+a*kk)*pb+start+sh:], pb, beta, wide[start:], pb)
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

// backwardFilterShift is BackwardFilter's row-shift lowering.
func backwardFilterShift(bl blas.Impl, g *Geom, x, dy, dw []float32) {
	kr, wp, p := g.krows(), g.gridW(), g.outSize()
	inN, outN := g.cin*g.inSize(), g.cout*p
	rows, total := g.shiftBlockRows(), g.ot*g.oh
	wbuf, cbuf, obuf := getScratch(len(dw)), getScratch(g.phases()*kr*rows*wp), getScratch(g.cout*rows*wp)
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
			c := col[:g.phases()*kr*pb]
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
					f, sh := g.shiftTap(kw)
					bl.Sgemm(false, true, g.cout, (b-a)*kk, cols, 1, wide[start:], pb, c[(f*kr+a*kk)*pb+start+sh:], pb, 1, dwr[kw*g.cout*kr+a*kk:], kr)
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
