// Package pool3d holds the CPU kernels of 3-D max, average and global
// average pooling and their gradients on float32 slices laid out as
// PyTorch's (N, C, T, H, W), with PyTorch's semantics (ceil_mode=False,
// count_include_pad=True, a max-pooling gradient routed to each window's
// first maximum, a NaN counting as the maximum). nn's pooling ops and gpu's
// host engine both run them, so pooling has one CPU definition.
package pool3d

import (
	"math"

	"github.com/vidssl/vidssl/internal/parallel"
)

// Geom is the geometry of one pooling: input, window, stride, padding and
// output sizes.
type Geom struct {
	n, c, t, h, w int
	kt, kh, kw    int
	st, sh, sw    int
	pt, ph, pw    int
	ot, oh, ow    int
}

// New returns the geometry of pooling x (N, C, T, H, W) with the given
// window, stride and padding (each T, H, W). The caller checks them:
// positive sizes, windows and strides, padding at most half the window, and
// the window no larger than the padded input. The output is (N, C, To, Ho,
// Wo) with To = (T + 2*pad[0] - kernel[0])/stride[0] + 1, and likewise.
func New(x [5]int, kernel, stride, pad [3]int) Geom {
	var out [3]int
	for i := range out {
		out[i] = (x[2+i]+2*pad[i]-kernel[i])/stride[i] + 1
	}
	return Geom{
		n: x[0], c: x[1], t: x[2], h: x[3], w: x[4],
		kt: kernel[0], kh: kernel[1], kw: kernel[2],
		st: stride[0], sh: stride[1], sw: stride[2],
		pt: pad[0], ph: pad[1], pw: pad[2],
		ot: out[0], oh: out[1], ow: out[2],
	}
}

// X returns the input's shape (N, C, T, H, W).
func (g *Geom) X() [5]int { return [5]int{g.n, g.c, g.t, g.h, g.w} }

// Y returns the output's shape (N, C, To, Ho, Wo).
func (g *Geom) Y() [5]int { return [5]int{g.n, g.c, g.ot, g.oh, g.ow} }

// Kernel returns the window (T, H, W).
func (g *Geom) Kernel() [3]int { return [3]int{g.kt, g.kh, g.kw} }

// Stride returns the stride (T, H, W).
func (g *Geom) Stride() [3]int { return [3]int{g.st, g.sh, g.sw} }

// Pad returns the padding (T, H, W).
func (g *Geom) Pad() [3]int { return [3]int{g.pt, g.ph, g.pw} }

// window is one pooling window clipped to the input, with the divisor of
// average pooling (count_include_pad=True: the window clipped to the padded
// input).
type window struct {
	t0, t1, h0, h1, w0, w1 int
	divisor                int
}

// forEachWindow calls f for every output position o (flat within a plane) of
// the plane with its window, in order.
func (g *Geom) forEachWindow(f func(o int, win window)) {
	o := 0
	for to := 0; to < g.ot; to++ {
		t0 := to*g.st - g.pt
		t1 := min(t0+g.kt, g.t+g.pt)
		dt := t1 - t0
		t0, t1 = max(t0, 0), min(t1, g.t)
		for ho := 0; ho < g.oh; ho++ {
			h0 := ho*g.sh - g.ph
			h1 := min(h0+g.kh, g.h+g.ph)
			dh := h1 - h0
			h0, h1 = max(h0, 0), min(h1, g.h)
			for wo := 0; wo < g.ow; wo++ {
				w0 := wo*g.sw - g.pw
				w1 := min(w0+g.kw, g.w+g.pw)
				dw := w1 - w0
				w0, w1 = max(w0, 0), min(w1, g.w)
				f(o, window{t0, t1, h0, h1, w0, w1, dt * dh * dw})
				o++
			}
		}
	}
}

// grain is the number of elements worth a goroutine.
const grain = 1 << 15

// planeGrain is the number of planes below which a pooling loop runs on
// one goroutine, given the work per plane.
func planeGrain(perPlane int) int { return max(1, grain/max(1, perPlane)) }

// planes runs f for every (n, c) plane with its input and output planes'
// offsets, across goroutines.
func (g *Geom) planes(f func(xo, yo int)) {
	in, on := g.t*g.h*g.w, g.ot*g.oh*g.ow
	parallel.For(g.n*g.c, planeGrain(on*g.kt*g.kh*g.kw), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			f(p*in, p*on)
		}
	})
}

// argmax returns the index in the plane xp of the window's first maximum and
// its value, as PyTorch: a later element wins only when greater, or NaN.
func (g *Geom) argmax(xp []float32, win window) (int, float32) {
	best := (win.t0*g.h+win.h0)*g.w + win.w0
	bv := float32(math.Inf(-1))
	for t := win.t0; t < win.t1; t++ {
		for h := win.h0; h < win.h1; h++ {
			row := (t*g.h + h) * g.w
			for w := win.w0; w < win.w1; w++ {
				if v := xp[row+w]; v > bv || v != v {
					bv, best = v, row+w
				}
			}
		}
	}
	return best, bv
}

// MaxForward sets y to the maximum of x over each window.
func MaxForward(g *Geom, x, y []float32) {
	g.planes(func(xo, yo int) {
		g.forEachWindow(func(o int, win window) {
			_, y[yo+o] = g.argmax(x[xo:], win)
		})
	})
}

// MaxBackward adds each output gradient dy to dx at its window's maximum
// in x; dx starts zeroed.
func MaxBackward(g *Geom, x, dy, dx []float32) {
	g.planes(func(xo, yo int) {
		g.forEachWindow(func(o int, win window) {
			i, _ := g.argmax(x[xo:], win)
			dx[xo+i] += dy[yo+o]
		})
	})
}

// AvgForward sets y to the mean of x over each window, padding counted in
// the divisor, summing in float32.
func AvgForward(g *Geom, x, y []float32) {
	g.planes(func(xo, yo int) {
		g.forEachWindow(func(o int, win window) {
			var s float32
			for t := win.t0; t < win.t1; t++ {
				for h := win.h0; h < win.h1; h++ {
					row := xo + (t*g.h+h)*g.w
					for _, v := range x[row+win.w0 : row+win.w1] {
						s += v
					}
				}
			}
			y[yo+o] = s / float32(win.divisor)
		})
	})
}

// AvgBackward spreads each output gradient dy evenly over its window
// (padding included) in dx, which starts zeroed.
func AvgBackward(g *Geom, dy, dx []float32) {
	g.planes(func(xo, yo int) {
		g.forEachWindow(func(o int, win window) {
			d := dy[yo+o] / float32(win.divisor)
			for t := win.t0; t < win.t1; t++ {
				for h := win.h0; h < win.h1; h++ {
					row := xo + (t*g.h+h)*g.w
					r := dx[row+win.w0 : row+win.w1]
					for i := range r {
						r[i] += d
					}
				}
			}
		})
	})
}

// GlobalAvgForward sets y[p] to the mean of plane p of x, len(y) planes of
// len(x)/len(y) values, summing in float64.
func GlobalAvgForward(x, y []float32) {
	size := len(x) / len(y)
	parallel.For(len(y), planeGrain(size), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			var s float64
			for _, v := range x[p*size : (p+1)*size] {
				s += float64(v)
			}
			y[p] = float32(s / float64(size))
		}
	})
}

// GlobalAvgBackward sets plane p of dx, len(dx)/len(dy) values, to dy[p]
// spread evenly.
func GlobalAvgBackward(dy, dx []float32) {
	size := len(dx) / len(dy)
	parallel.For(len(dy), planeGrain(size), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			d := dy[p] / float32(size)
			r := dx[p*size : (p+1)*size]
			for i := range r {
				r[i] = d
			}
		}
	})
}
