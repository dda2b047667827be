// Package bnorm holds batch normalisation's per-channel arithmetic over
// (N, C, S) float32 activations (S = T*H*W): the channel's moments, the
// normalisation and the training-mode input gradient, with their rounding
// (float32 runs added in float64, the affine maps in float32 through
// internal/vec). nn's BatchNorm3d ops and gpu's host engine both run it, so
// batch norm has one CPU definition.
package bnorm

import (
	"math"

	"github.com/vidssl/vidssl/internal/vec"
)

// Moments holds one channel's sums about a shift (the channel's first value
// in training, the running mean in evaluation), which keeps the float64 sums
// accurate in one pass: with d = x - Shift,
//
//	SD = sum(d), SDD = sum(d*d), SDY = sum(dy), SDYD = sum(dy*d).
type Moments struct {
	Shift, SD, SDD, SDY, SDYD float64
}

// ChannelMoments returns the moments of channel ch of x (N, C, S) and, when
// dy is not nil, of dy against x. When relu is not nil (a fused ReLU's
// output), dy counts only where relu > 0, as ReLU's gradient passes it.
// The sums run in float32 over runs of at most run values (vec.Moments)
// and are added up in float64.
func ChannelMoments(x, dy, relu []float32, n, c, s, ch int, shift float64) Moments {
	mo := Moments{Shift: shift}
	sh := float32(shift)
	for i := 0; i < n; i++ {
		off := (i*c + ch) * s
		for lo := 0; lo < s; lo += run {
			hi := min(s, lo+run)
			xs := x[off+lo : off+hi]
			var ys, rs []float32
			if dy != nil {
				ys = dy[off+lo : off+hi]
				if relu != nil {
					rs = relu[off+lo : off+hi]
				}
			}
			sd, sdd, sdy, sdyd := vec.Moments(xs, ys, rs, sh)
			mo.SD += float64(sd)
			mo.SDD += float64(sdd)
			mo.SDY += float64(sdy)
			mo.SDYD += float64(sdyd)
		}
	}
	// The shift the float32 sums used, exactly.
	mo.Shift = float64(sh)
	return mo
}

// run is the most values vec.Moments sums in float32 at a time.
const run = 1024

// CentredDot returns sum(dy * (x - mean)).
func (mo Moments) CentredDot(mean float64) float64 { return mo.SDYD - (mean-mo.Shift)*mo.SDY }

// Batch returns the batch statistics of channel ch of x (N, C, S) in
// training: the mean, 1/sqrt(var+eps), the biased variance, and the
// moments of x and, when dy is not nil, of dy (masked by relu > 0 when
// relu is not nil).
func Batch(x, dy, relu []float32, n, c, s, ch int, eps float64) (mean, invstd, variance float64, mo Moments) {
	mo = ChannelMoments(x, dy, relu, n, c, s, ch, float64(x[ch*s]))
	m := float64(n * s)
	dm := mo.SD / m
	variance = max(mo.SDD/m-dm*dm, 0)
	return mo.Shift + dm, 1 / math.Sqrt(variance+eps), variance, mo
}

// Normalize sets channel ch of y (N, C, S) to gamma * (x - mean) * invstd +
// beta, computed as a*x + b in float32 with a = gamma*invstd and b = beta -
// mean*a, then max(0, .) with relu.
func Normalize(y, x []float32, n, c, s, ch int, gamma, beta float32, mean, invstd float64, relu bool) {
	a := float64(gamma) * invstd
	a32, b32 := float32(a), float32(float64(beta)-mean*a)
	for i := 0; i < n; i++ {
		off := (i*c + ch) * s
		vec.Affine(y[off:off+s], x[off:off+s], a32, b32, relu)
	}
}

// InputGrad sets channel ch of dx (N, C, S) to the training-mode gradient of
// the input, through the batch statistics mean and invstd of x and the
// moments mo of dy against x (Batch with dy):
//
//	dx = a * (dy - mean(dy) - (x-mean) * k), k = invstd^2 * mean(dy*(x-mean)),
//
// with a = gamma*invstd, in float32 as a*dy - b - c*(x-mean). With relu not
// nil dy counts only where relu > 0.
func InputGrad(dx, x, dy, relu []float32, n, c, s, ch int, gamma float32, mean, invstd float64, mo Moments) {
	m := float64(n * s)
	a := float64(gamma) * invstd
	mdy := mo.SDY / m
	k := invstd * invstd * mo.CentredDot(mean) / m
	a32, b32, c32, mean32 := float32(a), float32(a*mdy), float32(a*k), float32(mean)
	for i := 0; i < n; i++ {
		off := (i*c + ch) * s
		var rs []float32
		if relu != nil {
			rs = relu[off : off+s]
		}
		vec.NormGrad(dx[off:off+s], x[off:off+s], dy[off:off+s], rs, a32, b32, c32, mean32)
	}
}
