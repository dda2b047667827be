package bnorm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// shapes are (N, C, S): two values per channel (the fewest training mode
// takes; nn refuses one, as PyTorch does), runs shorter and longer than
// vec.Moments's. Each runs with values about 0 and about 1000, where a
// one-pass variance about zero would lose its digits.
var shapes = [][3]int{{1, 1, 2}, {2, 3, 5}, {3, 2, 1500}, {1, 1, 4096}}

func randSlice(r *rand.Rand, n int, offset float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(offset + r.NormFloat64())
	}
	return s
}

// channel returns channel ch of x (N, C, S) in float64.
func channel(x []float32, n, c, s, ch int) []float64 {
	var v []float64
	for i := 0; i < n; i++ {
		for _, e := range x[(i*c+ch)*s : (i*c+ch+1)*s] {
			v = append(v, float64(e))
		}
	}
	return v
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

// reference returns batch norm of one channel by the definition in
// float64: the mean, the biased variance, y = gamma*(x-mean)/sqrt(var+eps)
// + beta (then ReLU) and the input gradient of sum(dy*y), dy masked where
// y <= 0 with ReLU.
func reference(x, dy []float64, gamma, beta, eps float64, relu bool) (mean, variance float64, y, dx []float64) {
	m := float64(len(x))
	for _, v := range x {
		mean += v / m
	}
	for _, v := range x {
		variance += (v - mean) * (v - mean) / m
	}
	inv := 1 / math.Sqrt(variance+eps)
	g := make([]float64, len(x))
	for i, v := range x {
		yi := gamma*(v-mean)*inv + beta
		g[i] = dy[i]
		if relu && yi <= 0 {
			yi, g[i] = 0, 0
		}
		y = append(y, yi)
	}
	var mg, mgx float64
	for i, v := range x {
		mg += g[i] / m
		mgx += g[i] * (v - mean) / m
	}
	for i, v := range x {
		dx = append(dx, gamma*inv*(g[i]-mg-(v-mean)*inv*inv*mgx))
	}
	return mean, variance, y, dx
}

func TestMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const eps = 1e-5
	for _, sh := range shapes {
		n, c, s := sh[0], sh[1], sh[2]
		for _, offset := range []float64{0, 1000} {
			for _, relu := range []bool{false, true} {
				x := randSlice(r, n*c*s, offset)
				dy := randSlice(r, n*c*s, 0)
				y := make([]float32, len(x))
				dx := make([]float32, len(x))
				for ch := 0; ch < c; ch++ {
					gamma, beta := float32(0.5+r.Float64()), float32(r.NormFloat64())
					mean, invstd, variance, _ := Batch(x, nil, nil, n, c, s, ch, eps)
					Normalize(y, x, n, c, s, ch, gamma, beta, mean, invstd, relu)
					var mask []float32
					if relu {
						mask = y
					}
					_, _, _, mo := Batch(x, dy, mask, n, c, s, ch, eps)
					InputGrad(dx, x, dy, mask, n, c, s, ch, gamma, mean, invstd, mo)

					wm, wv, wy, wdx := reference(channel(x, n, c, s, ch), channel(dy, n, c, s, ch), float64(gamma), float64(beta), eps, relu)
					at := fmt.Sprintf("(N,C,S)=%v offset %v relu %v channel %d", sh, offset, relu, ch)
					if !near(mean, wm, 1e-6) || !near(variance, wv, 1e-4) {
						t.Fatalf("%s: mean %v variance %v, want %v %v", at, mean, variance, wm, wv)
					}
					if want := 1 / math.Sqrt(wv+eps); !near(invstd, want, 1e-4) {
						t.Fatalf("%s: invstd %v, want %v", at, invstd, want)
					}
					// Near 1000 a float32 holds x to about 6e-5, which the
					// normalisation scales by invstd (about 1).
					tol := 1e-4
					if offset != 0 {
						tol = 1e-3
					}
					// dx is a difference of terms as large as
					// gamma*invstd*|dy|, which cancel to nothing when
					// few values are live (two, one masked by ReLU).
					gotY, gotDX := channel(y, n, c, s, ch), channel(dx, n, c, s, ch)
					var peak float64
					for _, v := range channel(dy, n, c, s, ch) {
						peak = math.Max(peak, math.Abs(v))
					}
					scale := float64(gamma) * invstd * peak
					for i := range wy {
						if !near(gotY[i], wy[i], tol) {
							t.Fatalf("%s: y[%d] = %v, want %v", at, i, gotY[i], wy[i])
						}
						if math.Abs(gotDX[i]-wdx[i]) > tol*(1+scale) {
							t.Fatalf("%s: dx[%d] = %v, want %v", at, i, gotDX[i], wdx[i])
						}
					}
				}
			}
		}
	}
}

// TestInputGradFiniteDifference checks InputGrad against central
// differences of L = sum(dy * Normalize(x)) through the batch statistics.
func TestInputGradFiniteDifference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n, c, s, eps = 2, 2, 6, 1e-5
	x := randSlice(r, n*c*s, 0)
	dy := randSlice(r, n*c*s, 0)
	gamma, beta := float32(1.3), float32(0.2)
	loss := func(x []float32) float64 {
		y := make([]float32, len(x))
		var l float64
		for ch := 0; ch < c; ch++ {
			mean, invstd, _, _ := Batch(x, nil, nil, n, c, s, ch, eps)
			Normalize(y, x, n, c, s, ch, gamma, beta, mean, invstd, false)
		}
		for i := range y {
			l += float64(dy[i]) * float64(y[i])
		}
		return l
	}
	dx := make([]float32, len(x))
	for ch := 0; ch < c; ch++ {
		mean, invstd, _, mo := Batch(x, dy, nil, n, c, s, ch, eps)
		InputGrad(dx, x, dy, nil, n, c, s, ch, gamma, mean, invstd, mo)
	}
	const h = 1e-2
	for i := range x {
		xp := append([]float32(nil), x...)
		xp[i] += h
		lp := loss(xp)
		xp[i] -= 2 * h
		lm := loss(xp)
		if fd := (lp - lm) / (2 * h); math.Abs(fd-float64(dx[i])) > 2e-3 {
			t.Errorf("dx[%d] = %v, central difference %v", i, dx[i], fd)
		}
	}
}
