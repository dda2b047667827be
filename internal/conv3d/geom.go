// Package conv3d holds vidssl's CPU kernels for the 3-D convolution and its
// two backward passes on float32 slices laid out as PyTorch's (N, C, T, H,
// W): lowered to matrix products through internal/blas by vol2col,
// row-shift, strided-pointwise or implicit GEMM (kernels.go describes the
// paths and when each runs). nn's Conv3d ops and gpu's host engine both run
// them, so a convolution has one CPU definition.
package conv3d

import (
	"fmt"

	"github.com/vidssl/vidssl/internal/parallel"
)

// Geom is the geometry of one convolution: input, kernel, stride, padding
// and output sizes (dilation 1, one group).
type Geom struct {
	n, cin, t, h, w  int // input
	cout, kt, kh, kw int // kernel
	st, sh, sw       int // stride
	pt, ph, pw       int // padding
	ot, oh, ow       int // output
	// serial marks one part of a batch split over goroutines (splitItems):
	// its copies run on the calling goroutine (parFor), as its products do.
	serial bool
}

// New returns the geometry of the convolution of an input x (N, Cin, T, H,
// W) with a weight w (Cout, Cin, kT, kH, kW) at the given stride and padding
// (each T, H, W). The caller checks the shapes: positive sizes and strides,
// padding not negative, w's Cin equal to x's, and the kernel no larger than
// the padded input. The output is (N, Cout, To, Ho, Wo) with To = (T +
// 2*pad[0] - kT)/stride[0] + 1, and likewise for H and W.
func New(x, w [5]int, stride, pad [3]int) Geom {
	var out [3]int
	for i := range out {
		out[i] = (x[2+i]+2*pad[i]-w[2+i])/stride[i] + 1
	}
	return Geom{
		n: x[0], cin: x[1], t: x[2], h: x[3], w: x[4],
		cout: w[0], kt: w[2], kh: w[3], kw: w[4],
		st: stride[0], sh: stride[1], sw: stride[2],
		pt: pad[0], ph: pad[1], pw: pad[2],
		ot: out[0], oh: out[1], ow: out[2],
	}
}

// X returns the input's shape (N, Cin, T, H, W).
func (g *Geom) X() [5]int { return [5]int{g.n, g.cin, g.t, g.h, g.w} }

// W returns the weight's shape (Cout, Cin, kT, kH, kW).
func (g *Geom) W() [5]int { return [5]int{g.cout, g.cin, g.kt, g.kh, g.kw} }

// Y returns the output's shape (N, Cout, To, Ho, Wo).
func (g *Geom) Y() [5]int { return [5]int{g.n, g.cout, g.ot, g.oh, g.ow} }

// Stride returns the stride (T, H, W).
func (g *Geom) Stride() [3]int { return [3]int{g.st, g.sh, g.sw} }

// Pad returns the padding (T, H, W).
func (g *Geom) Pad() [3]int { return [3]int{g.pt, g.ph, g.pw} }

// Flops returns the number of floating-point operations of the forward
// pass, two per multiply-add (and as many for each backward pass).
func (g *Geom) Flops() float64 {
	return 2 * float64(g.n) * float64(g.cout) * float64(g.kdim()) * float64(g.outSize())
}

// parFor is parallel.For, or f(0, n) on the calling goroutine when g is
// serial.
func (g *Geom) parFor(n, grain int, f func(lo, hi int)) {
	if g.serial {
		if n > 0 {
			f(0, n)
		}
		return
	}
	parallel.For(n, grain, f)
}

// kdim is the number of rows of the vol2col matrix: Cin*kT*kH*kW.
func (g *Geom) kdim() int { return g.cin * g.kt * g.kh * g.kw }

// inSize and outSize are the numbers of spatial positions of one channel.
func (g *Geom) inSize() int  { return g.t * g.h * g.w }
func (g *Geom) outSize() int { return g.ot * g.oh * g.ow }

// pointwise reports a 1x1x1 stride-1 unpadded convolution, a plain matrix
// product per batch item.
func (g *Geom) pointwise() bool {
	return g.kt == 1 && g.kh == 1 && g.kw == 1 && g.st == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.ph == 0 && g.pw == 0
}

// Paths chooses among the kernels' lowerings and sets their block sizes,
// for tests that run every path on the same cases (see AllPaths).
type Paths struct {
	// Trim drops kernel taps that read only padding.
	Trim bool
	// Shift enables the row-shift and the strided pointwise lowerings where
	// they apply.
	Shift bool
	// Implicit enables implicit GEMM where it applies; with Force it
	// serves every convolution and weight gradient it can.
	Implicit, Force bool
	// BlockFloats bounds a vol2col block, in values; MinBlockCols is the
	// fewest columns a block has.
	BlockFloats, MinBlockCols int
	// ItemSplitMaxWork is the most multiply-adds per batch item at which a
	// batch is split over goroutines; -1 never splits.
	ItemSplitMaxWork int
}

// CurrentPaths returns the paths the kernels take now: by default every
// lowering where it applies (implicit GEMM unless VIDSSL_CONV=vol2col).
func CurrentPaths() Paths {
	return Paths{
		Trim: useTrim, Shift: useShift && useStrided, Implicit: useImplicit, Force: forceImplicit,
		BlockFloats: colBlockFloats, MinBlockCols: minBlockCols, ItemSplitMaxWork: itemSplitMaxWork,
	}
}

// Use runs f with the kernels set to p, then restores the paths they had.
// It is for tests: no kernel may run concurrently on another goroutine.
func (p Paths) Use(f func()) {
	old := CurrentPaths()
	p.set()
	defer old.set()
	f()
}

func (p Paths) set() {
	useTrim, useShift, useStrided, useImplicit, forceImplicit = p.Trim, p.Shift, p.Shift, p.Implicit, p.Force
	colBlockFloats, minBlockCols, itemSplitMaxWork = p.BlockFloats, p.MinBlockCols, p.ItemSplitMaxWork
}

// String names p's choices, for subtests.
func (p Paths) String() string {
	lower := "vol2col"
	switch {
	case p.Implicit:
		lower = "implicit"
	case p.Shift:
		lower = "shift"
	}
	return fmt.Sprintf("trim=%t/%s/block=%d/split=%t", p.Trim, lower, p.BlockFloats, p.ItemSplitMaxWork >= 0)
}

// AllPaths returns the paths tests run each case under: each lowering
// (implicit GEMM, for every weight gradient it can compute too, row-shift
// or strided pointwise where they apply, and plain vol2col), with and
// without trimming padding-only taps, with the default vol2col block size
// and a tiny one, which splits every case into many blocks, and with and
// without splitting the batch over goroutines.
func AllPaths() []Paths {
	def := CurrentPaths()
	var all []Paths
	for _, trim := range []bool{true, false} {
		for _, lower := range []string{"implicit", "shift", "vol2col"} {
			for _, block := range []int{def.BlockFloats, 64} {
				for _, split := range []bool{true, false} {
					p := def
					p.Trim, p.Shift, p.Implicit, p.Force, p.BlockFloats = trim, lower != "vol2col", lower == "implicit", lower == "implicit", block
					if block < def.BlockFloats {
						p.MinBlockCols = 1
					}
					if !split {
						p.ItemSplitMaxWork = -1
					}
					all = append(all, p)
				}
			}
		}
	}
	return all
}
