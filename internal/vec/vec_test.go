package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// lengths are around the 16-value steps of the assembly loops.
var lengths = []int{1, 2, 3, 15, 16, 17, 31, 32, 33, 63, 100, 256, 1000}

// randSlice returns n normal values starting at a random offset into a
// longer buffer (unaligned), with every seventh value zero and every
// eleventh negative zero.
func randSlice(rng *rand.Rand, n int) []float32 {
	off := rng.IntN(4)
	s := make([]float32, off+n+3)[off : off+n]
	for i := range s {
		s[i] = float32(rng.NormFloat64())
		switch {
		case i%7 == 3:
			s[i] = 0
		case i%11 == 5:
			s[i] = float32(math.Copysign(0, -1))
		}
	}
	return s
}

// near reports whether got is within float32 rounding of sums whose terms
// have magnitudes adding up to scale.
func near(got, want float32, scale float64) bool {
	return math.Abs(float64(got)-float64(want)) <= 1e-5*scale+1e-6
}

// TestMoments holds Moments (the assembly where the CPU has it) to the
// float64 sums, for x alone, with y, and with y masked by m.
func TestMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range lengths {
		x, y, m := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)
		m[0] = float32(math.NaN()) // NaN masks like a non-positive value
		shift := x[0]
		for _, c := range []struct {
			name string
			y, m []float32
		}{{"x", nil, nil}, {"xy", y, nil}, {"xym", y, m}} {
			var want, scale [4]float64
			for i, v := range x {
				d := float64(v) - float64(shift)
				want[0] += d
				want[1] += d * d
				scale[0] += math.Abs(d)
				scale[1] += d * d
				if c.y != nil && (c.m == nil || c.m[i] > 0) {
					g := float64(c.y[i])
					want[2] += g
					want[3] += g * d
					scale[2] += math.Abs(g)
					scale[3] += math.Abs(g * d)
				}
			}
			sd, sdd, sdy, sdyd := Moments(x, c.y, c.m, shift)
			for i, got := range [4]float32{sd, sdd, sdy, sdyd} {
				if !near(got, float32(want[i]), scale[i]) {
					t.Errorf("n=%d %s: sum %d = %g, want %g", n, c.name, i, got, want[i])
				}
			}
			gd, gdd, gdy, gdyd := momentsGo(x, c.y, c.m, shift)
			for i, got := range [4]float32{gd, gdd, gdy, gdyd} {
				if !near(got, float32(want[i]), scale[i]) {
					t.Errorf("n=%d %s: momentsGo sum %d = %g, want %g", n, c.name, i, got, want[i])
				}
			}
		}
	}
}

// TestAffineAndNormGrad holds Affine and NormGrad, and their plain-Go
// versions, to their definitions and checks that they write exactly len(x)
// values.
func TestAffineAndNormGrad(t *testing.T) {
	for _, impl := range []struct {
		name     string
		affine   func(dst, x []float32, a, b float32, relu bool)
		normGrad func(dst, x, y, m []float32, a, b, c, mean float32)
	}{{"default", Affine, NormGrad}, {"go", affineGo, normGradGo}} {
		t.Run(impl.name, func(t *testing.T) { testAffineAndNormGrad(t, impl.affine, impl.normGrad) })
	}
	Affine(nil, nil, 1, 2, true)
	NormGrad(nil, nil, nil, nil, 1, 2, 3, 4)
	if a, b, c, d := Moments(nil, nil, nil, 1); a != 0 || b != 0 || c != 0 || d != 0 {
		t.Errorf("Moments of nothing = %g %g %g %g", a, b, c, d)
	}
}

func testAffineAndNormGrad(t *testing.T, affine func(dst, x []float32, a, b float32, relu bool), normGrad func(dst, x, y, m []float32, a, b, c, mean float32)) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range lengths {
		x, y, m := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)
		x[n-1] = float32(math.NaN())
		const a, b, c, mean = 1.5, -0.25, 0.75, 0.125
		for _, relu := range []bool{false, true} {
			dst := make([]float32, n+1)
			dst[n] = 42
			affine(dst, x, a, b, relu)
			for i, v := range x {
				want := v*a + b
				if relu && want < 0 {
					want = 0
				}
				if !(dst[i] == want || math.Abs(float64(dst[i]-want)) <= 1e-6 || (math.IsNaN(float64(want)) && math.IsNaN(float64(dst[i])))) {
					t.Errorf("n=%d relu=%t: Affine[%d] = %g, want %g", n, relu, i, dst[i], want)
				}
			}
			if dst[n] != 42 {
				t.Errorf("n=%d: Affine wrote past len(x)", n)
			}
		}
		for _, mask := range [][]float32{nil, m} {
			dst := make([]float32, n+1)
			dst[n] = 42
			normGrad(dst, x, y, mask, a, b, c, mean)
			for i, v := range x {
				g := y[i]
				if mask != nil && !(mask[i] > 0) {
					g = 0
				}
				want := a*g - b - c*(v-mean)
				if !(math.Abs(float64(dst[i]-want)) <= 1e-6 || (math.IsNaN(float64(want)) && math.IsNaN(float64(dst[i])))) {
					t.Errorf("n=%d mask=%t: NormGrad[%d] = %g, want %g", n, mask != nil, i, dst[i], want)
				}
			}
			if dst[n] != 42 {
				t.Errorf("n=%d: NormGrad wrote past len(x)", n)
			}
		}
	}
}

// TestMask holds Mask and maskGo to their definition, NaN in m included.
func TestMask(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range lengths {
		y, m := randSlice(rng, n), randSlice(rng, n)
		m[n/2] = float32(math.NaN())
		y[0] = float32(math.Inf(1))
		for name, f := range map[string]func(dst, y, m []float32){"default": Mask, "go": maskGo} {
			dst := make([]float32, n+1)
			dst[n] = 42
			f(dst, y, m)
			for i, v := range y {
				want := v
				if !(m[i] > 0) {
					want = 0
				}
				if dst[i] != want {
					t.Errorf("%s n=%d: dst[%d] = %g, want %g", name, n, i, dst[i], want)
				}
			}
			if dst[n] != 42 {
				t.Errorf("%s n=%d: wrote past len(y)", name, n)
			}
		}
	}
	Mask(nil, nil, nil)
}

// TestInterleave2 checks Deinterleave2 and Interleave2 against their
// definitions at lengths around the 32-value steps, writing nothing else.
func TestInterleave2(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for n := 1; n <= 100; n++ {
		src := randSlice(rng, n)
		ne, no := (n+1)/2, n/2
		even, odd := make([]float32, ne+1), make([]float32, no+1)
		even[ne], odd[no] = 42, 43
		Deinterleave2(even, odd, src)
		for i, v := range src {
			got := even[i/2]
			if i%2 == 1 {
				got = odd[i/2]
			}
			if got != v {
				t.Fatalf("n=%d: Deinterleave2 put %g for src[%d] = %g", n, got, i, v)
			}
		}
		if even[ne] != 42 || odd[no] != 43 {
			t.Fatalf("n=%d: Deinterleave2 wrote past its lengths", n)
		}
		dst := make([]float32, n+1)
		dst[n] = 44
		Interleave2(dst[:n], even, odd)
		for i, v := range src {
			if dst[i] != v {
				t.Fatalf("n=%d: Interleave2 dst[%d] = %g, want %g", n, i, dst[i], v)
			}
		}
		if dst[n] != 44 {
			t.Fatalf("n=%d: Interleave2 wrote past len(dst)", n)
		}
	}
	Deinterleave2(nil, nil, nil)
	Interleave2(nil, nil, nil)
	// The plain-Go versions, on one length.
	src := randSlice(rng, 37)
	even, odd, back := make([]float32, 19), make([]float32, 18), make([]float32, 37)
	deinterleave2Go(even, odd, src)
	interleave2Go(back, even, odd)
	for i := range src {
		if back[i] != src[i] || (i%2 == 0 && even[i/2] != src[i]) || (i%2 == 1 && odd[i/2] != src[i]) {
			t.Fatalf("plain Go: value %d lost", i)
		}
	}
}

// BenchmarkMoments times the masked moments of 4096 values (one batch-norm
// channel of a 4x32x32 clip).
func BenchmarkMoments(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	x, y, m := randSlice(rng, 4096), randSlice(rng, 4096), randSlice(rng, 4096)
	b.SetBytes(3 * 4 * 4096)
	for b.Loop() {
		Moments(x, y, m, 0.5)
	}
}
