package pool3d

import (
	"math"
	"math/rand/v2"
	"testing"
)

// geoms are poolings with and without padding, overlapping and strided
// windows, and a window as large as the padded input; the last has enough
// planes to run on several goroutines.
var geoms = []struct {
	x                   [5]int
	kernel, stride, pad [3]int
}{
	{[5]int{1, 1, 1, 1, 1}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{0, 0, 0}},
	{[5]int{2, 3, 4, 5, 6}, [3]int{2, 2, 2}, [3]int{2, 2, 2}, [3]int{0, 0, 0}},
	{[5]int{2, 2, 3, 7, 5}, [3]int{3, 3, 3}, [3]int{1, 2, 2}, [3]int{1, 1, 1}},
	{[5]int{1, 2, 1, 4, 4}, [3]int{1, 3, 2}, [3]int{1, 1, 3}, [3]int{0, 1, 1}},
	{[5]int{1, 1, 2, 3, 3}, [3]int{4, 5, 5}, [3]int{1, 1, 1}, [3]int{2, 2, 2}},
	{[5]int{4, 64, 2, 9, 9}, [3]int{1, 3, 3}, [3]int{1, 2, 2}, [3]int{0, 1, 1}},
}

// naive pools x by the definition, in float64: every window position of
// the padded input, max over the real elements (-Inf if none) and the sum
// over them divided by the padded window's size.
func naive(x []float32, shape [5]int, kernel, stride, pad [3]int) (mx, avg []float64) {
	n, c, t, h, w := shape[0], shape[1], shape[2], shape[3], shape[4]
	var out [3]int
	for i := range out {
		out[i] = (shape[2+i]+2*pad[i]-kernel[i])/stride[i] + 1
	}
	for p := 0; p < n*c; p++ {
		for to := 0; to < out[0]; to++ {
			for ho := 0; ho < out[1]; ho++ {
				for wo := 0; wo < out[2]; wo++ {
					m, s, cnt := math.Inf(-1), 0.0, 0
					for kt := 0; kt < kernel[0]; kt++ {
						for kh := 0; kh < kernel[1]; kh++ {
							for kw := 0; kw < kernel[2]; kw++ {
								ti, hi, wi := to*stride[0]-pad[0]+kt, ho*stride[1]-pad[1]+kh, wo*stride[2]-pad[2]+kw
								if ti >= t+pad[0] || hi >= h+pad[1] || wi >= w+pad[2] {
									continue // past the padded input: not in the window
								}
								cnt++
								if ti < 0 || hi < 0 || wi < 0 || ti >= t || hi >= h || wi >= w {
									continue // padding: counted, not summed
								}
								v := float64(x[((p*t+ti)*h+hi)*w+wi])
								m = math.Max(m, v)
								s += v
							}
						}
					}
					mx = append(mx, m)
					avg = append(avg, s/float64(cnt))
				}
			}
		}
	}
	return mx, avg
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func size(s [5]int) int { return s[0] * s[1] * s[2] * s[3] * s[4] }

func TestForwardMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range geoms {
		g := New(tc.x, tc.kernel, tc.stride, tc.pad)
		x := randSlice(r, size(g.X()))
		wantMax, wantAvg := naive(x, tc.x, tc.kernel, tc.stride, tc.pad)
		if len(wantMax) != size(g.Y()) {
			t.Fatalf("%v: output shape %v has %d values, the definition %d", tc, g.Y(), size(g.Y()), len(wantMax))
		}
		y := make([]float32, size(g.Y()))
		MaxForward(&g, x, y)
		for i, v := range y {
			if float64(v) != wantMax[i] {
				t.Fatalf("%v: max[%d] = %v, want %v", tc, i, v, wantMax[i])
			}
		}
		AvgForward(&g, x, y)
		for i, v := range y {
			if math.Abs(float64(v)-wantAvg[i]) > 1e-6*(1+math.Abs(wantAvg[i])) {
				t.Fatalf("%v: avg[%d] = %v, want %v", tc, i, v, wantAvg[i])
			}
		}
		if g.Kernel() != tc.kernel || g.Stride() != tc.stride || g.Pad() != tc.pad || g.X() != tc.x {
			t.Fatalf("%v: geometry reads back as %v %v %v %v", tc, g.X(), g.Kernel(), g.Stride(), g.Pad())
		}
	}
}

// dot returns sum(a*b) in float64.
func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// TestBackwardIsAdjoint checks each gradient against its forward: pooling
// is linear in x (max pooling once the maxima are fixed), so <P x, dy> =
// <x, P^T dy>.
func TestBackwardIsAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range geoms {
		g := New(tc.x, tc.kernel, tc.stride, tc.pad)
		x := randSlice(r, size(g.X()))
		dy := randSlice(r, size(g.Y()))
		y := make([]float32, len(dy))
		dx := make([]float32, len(x))
		AvgForward(&g, x, y)
		AvgBackward(&g, dy, dx)
		if a, b := dot(y, dy), dot(x, dx); math.Abs(a-b) > 1e-4*(1+math.Abs(a)) {
			t.Errorf("%v: avg: <y, dy> = %v, <x, dx> = %v", tc, a, b)
		}
		clear(dx)
		MaxForward(&g, x, y)
		MaxBackward(&g, x, dy, dx)
		if a, b := dot(y, dy), dot(x, dx); math.Abs(a-b) > 1e-4*(1+math.Abs(a)) {
			t.Errorf("%v: max: <y, dy> = %v, <x, dx> = %v", tc, a, b)
		}
	}
}

func TestMaxBackwardRoutesToFirstMaximum(t *testing.T) {
	g := New([5]int{1, 1, 1, 2, 2}, [3]int{1, 2, 2}, [3]int{1, 1, 1}, [3]int{0, 0, 0})
	dx := make([]float32, 4)
	MaxBackward(&g, []float32{1, 3, 3, 2}, []float32{5}, dx)
	if want := []float32{0, 5, 0, 0}; !equal(dx, want) {
		t.Errorf("tie: dx = %v, want %v (the first maximum, as PyTorch)", dx, want)
	}
	nan := float32(math.NaN())
	clear(dx)
	y := make([]float32, 1)
	MaxForward(&g, []float32{1, nan, 7, 2}, y)
	MaxBackward(&g, []float32{1, nan, 7, 2}, []float32{5}, dx)
	if y[0] == y[0] || !equal(dx, []float32{0, 5, 0, 0}) {
		t.Errorf("NaN: y = %v, dx = %v; want NaN and the gradient at the NaN", y, dx)
	}
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestGlobalAvg(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, planes := range []int{1, 3, 200} {
		for _, per := range []int{1, 7, 1000} {
			x := randSlice(r, planes*per)
			y := make([]float32, planes)
			GlobalAvgForward(x, y)
			for p := range y {
				var s float64
				for _, v := range x[p*per : (p+1)*per] {
					s += float64(v)
				}
				if want := float32(s / float64(per)); y[p] != want {
					t.Fatalf("%d planes of %d: y[%d] = %v, want %v", planes, per, p, y[p], want)
				}
			}
			dy := randSlice(r, planes)
			dx := randSlice(r, planes*per) // overwritten, not added to
			GlobalAvgBackward(dy, dx)
			for i, v := range dx {
				if want := dy[i/per] / float32(per); v != want {
					t.Fatalf("%d planes of %d: dx[%d] = %v, want %v", planes, per, i, v, want)
				}
			}
		}
	}
}
