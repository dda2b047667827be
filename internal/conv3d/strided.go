package conv3d

import (
	"github.com/vidssl/vidssl/internal/blas"
	"github.com/vidssl/vidssl/internal/vec"
)

// A 1x1x1 unpadded convolution with a stride above 1 (ResNet's downsample
// shortcut) is a product of the weight with the input values at every
// stride-th position: the vol2col matrix is just those values, one row per
// input channel, and col2vol writes each input position at most once. So
// it runs as its own path, per batch item:
//
//	forward:         Y  = W (Cout x Cin) * Xs,  Xs = gatherStrided(X)
//	backward data:   dX = scatterStrided(W^T * dY)   (zero elsewhere)
//	backward filter: dW += dY * Xs^T
//
// where the general path cleared a padded buffer, added col2vol's values
// into it and copied all of it out (three passes over dX instead of one),
// and gathered with a scalar strided loop. A stride of 2 along W, the
// common case, gathers and scatters through internal/vec's
// (de)interleaves.

// useStrided enables the strided pointwise path; tests turn it off (with
// useShift) to check the vol2col path on the same cases.
var useStrided = true

// stridedPointwise reports a 1x1x1 unpadded convolution with a stride
// above 1 in some dimension, which the strided pointwise path computes.
func (g *Geom) stridedPointwise() bool {
	return useStrided && g.kt == 1 && g.kh == 1 && g.kw == 1 && g.pt == 0 && g.ph == 0 && g.pw == 0 && !g.pointwise()
}

// zeroRow is read as the odd phase of rows that scatterStrided interleaves
// with zeros; rows longer than twice it take the scalar loop.
var zeroRow [1024]float32

// gatherStrided copies into xs (Cin x To*Ho*Wo) the values of one input
// item xn (Cin, T, H, W) that the strided pointwise convolution g reads.
func gatherStrided(g *Geom, xn, xs []float32) {
	p := g.outSize()
	g.parFor(g.cin*g.ot, max(1, copyGrain/(g.oh*g.ow)), func(lo, hi int) {
		var odd *[]float32
		if g.sw == 2 {
			odd = getScratch(g.w / 2)
			defer putScratch(odd)
		}
		for plane := lo; plane < hi; plane++ {
			ci, to := plane/g.ot, plane%g.ot
			for ho := 0; ho < g.oh; ho++ {
				src := xn[((ci*g.t+to*g.st)*g.h+ho*g.sh)*g.w:][:g.w]
				dst := xs[ci*p+(to*g.oh+ho)*g.ow:][:g.ow]
				switch g.sw {
				case 1:
					copy(dst, src)
				case 2:
					vec.Deinterleave2(dst, *odd, src)
				default:
					src = src[:(g.ow-1)*g.sw+1]
					for wo := range dst {
						dst[wo] = src[wo*g.sw]
					}
				}
			}
		}
	})
}

// scatterStrided writes into dxn, one item (Cin, T, H, W), the values of
// dcol (Cin x To*Ho*Wo) at the positions gatherStrided reads them from, and
// zero everywhere else.
func scatterStrided(g *Geom, dcol, dxn []float32) {
	p, plane := g.outSize(), g.h*g.w
	g.parFor(g.cin*g.t, max(1, copyGrain/plane), func(lo, hi int) {
		for task := lo; task < hi; task++ {
			ci, t := task/g.t, task%g.t
			dp := dxn[task*plane : (task+1)*plane]
			if t%g.st != 0 {
				clear(dp)
				continue
			}
			to := t / g.st
			for h := 0; h < g.h; h++ {
				row := dp[h*g.w : (h+1)*g.w]
				if h%g.sh != 0 {
					clear(row)
					continue
				}
				src := dcol[ci*p+(to*g.oh+h/g.sh)*g.ow:][:g.ow]
				switch {
				case g.sw == 1:
					copy(row, src)
				case g.sw == 2 && g.w/2 <= len(zeroRow):
					vec.Interleave2(row, src, zeroRow[:g.w/2])
				default:
					clear(row)
					row = row[:(g.ow-1)*g.sw+1]
					for wo, v := range src {
						row[wo*g.sw] = v
					}
				}
			}
		}
	})
}

// forwardStrided is Forward for a strided pointwise g.
func forwardStrided(bl blas.Impl, g *Geom, x, w, y []float32) {
	p := g.outSize()
	inN, outN := g.cin*g.inSize(), g.cout*p
	buf := getScratch(g.cin * p)
	for n := 0; n < g.n; n++ {
		gatherStrided(g, x[n*inN:(n+1)*inN], *buf)
		bl.Sgemm(false, false, g.cout, p, g.cin, 1, w, g.cin, *buf, p, 0, y[n*outN:(n+1)*outN], p)
	}
	putScratch(buf)
}

// backwardDataStrided is BackwardData for a strided pointwise g.
func backwardDataStrided(bl blas.Impl, g *Geom, w, dy, dx []float32) {
	p := g.outSize()
	inN, outN := g.cin*g.inSize(), g.cout*p
	buf := getScratch(g.cin * p)
	for n := 0; n < g.n; n++ {
		bl.Sgemm(true, false, g.cin, p, g.cout, 1, w, g.cin, dy[n*outN:(n+1)*outN], p, 0, *buf, p)
		scatterStrided(g, *buf, dx[n*inN:(n+1)*inN])
	}
	putScratch(buf)
}

// backwardFilterStrided is BackwardFilter for a strided
// pointwise g: it adds the gradient into dw.
func backwardFilterStrided(bl blas.Impl, g *Geom, x, dy, dw []float32) {
	p := g.outSize()
	inN, outN := g.cin*g.inSize(), g.cout*p
	buf := getScratch(g.cin * p)
	for n := 0; n < g.n; n++ {
		gatherStrided(g, x[n*inN:(n+1)*inN], *buf)
		bl.Sgemm(false, true, g.cout, g.cin, p, 1, dy[n*outN:(n+1)*outN], p, *buf, p, 1, dw, g.cin)
	}
	putScratch(buf)
}
