package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// levelNames names the levels (levelGo = 0, AVX2, AVX-512) in test output.
var levelNames = []string{"go", "avx2", "avx512"}

// forEachLevel runs f once for each instruction set this CPU supports,
// with level set to it (the plain Go loops included), and puts level back.
func forEachLevel(t *testing.T, f func(t *testing.T)) {
	saved := level
	defer func() { level = saved }()
	for l := 0; l <= maxLevel(); l++ {
		level = l
		t.Run(levelNames[l], f)
	}
}

// lengths are around the 8- and 16-value steps of the assembly loops and
// the 16- and 32-value blocks of the (de)interleaves.
var lengths = []int{0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 63, 64, 65, 100, 256, 1000, 4099}

// testLengths returns lengths and 40 random ones under 300.
func testLengths(rng *rand.Rand) []int {
	out := append([]int(nil), lengths...)
	for range 40 {
		out = append(out, rng.IntN(300))
	}
	return out
}

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

// same reports whether got is want, or within one float32 rounding of it
// (a fused multiply-add rounds once where Go rounds twice), NaN matching
// NaN.
func same(got, want float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	return got == want || math.Abs(got-want) <= 1e-6*(1+math.Abs(want))
}

// TestMoments holds Moments, at every level, to the float64 sums, for x
// alone, with y, and with y masked by m.
func TestMoments(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, n := range testLengths(rng) {
			checkMoments(t, rng, n, Moments)
		}
	})
	// The plain-Go version called directly.
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range lengths[1:] {
		checkMoments(t, rng, n, momentsGo)
	}
}

// checkMoments checks moments on n random values against the float64 sums.
func checkMoments(t *testing.T, rng *rand.Rand, n int, moments func(x, y, m []float32, shift float32) (float32, float32, float32, float32)) {
	t.Helper()
	x, y, m := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)
	shift := float32(0.25)
	if n > 0 {
		m[rng.IntN(n)] = float32(math.NaN()) // NaN masks like a non-positive value
		shift = x[rng.IntN(n)]
	}
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
		sd, sdd, sdy, sdyd := moments(x, c.y, c.m, shift)
		for i, got := range [4]float32{sd, sdd, sdy, sdyd} {
			if !near(got, float32(want[i]), scale[i]) {
				t.Errorf("n=%d %s: sum %d = %g, want %g", n, c.name, i, got, want[i])
			}
		}
	}
}

// TestAffineAndNormGrad holds Affine and NormGrad, at every level, to their
// definitions and checks that they write exactly len(x) values.
func TestAffineAndNormGrad(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, n := range testLengths(rng) {
			checkAffineAndNormGrad(t, rng, n, Affine, NormGrad)
		}
	})
	rng := rand.New(rand.NewPCG(13, 14))
	for _, n := range lengths[1:] {
		checkAffineAndNormGrad(t, rng, n, affineGo, normGradGo)
	}
	Affine(nil, nil, 1, 2, true)
	NormGrad(nil, nil, nil, nil, 1, 2, 3, 4)
	if a, b, c, d := Moments(nil, nil, nil, 1); a != 0 || b != 0 || c != 0 || d != 0 {
		t.Errorf("Moments of nothing = %g %g %g %g", a, b, c, d)
	}
}

func checkAffineAndNormGrad(t *testing.T, rng *rand.Rand, n int, affine func(dst, x []float32, a, b float32, relu bool), normGrad func(dst, x, y, m []float32, a, b, c, mean float32)) {
	t.Helper()
	x, y, m := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n)
	if n > 0 {
		x[rng.IntN(n)] = float32(math.NaN())
		m[rng.IntN(n)] = float32(math.NaN())
	}
	a, b, c, mean := float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
	for _, relu := range []bool{false, true} {
		dst := make([]float32, n+1)
		dst[n] = 42
		affine(dst, x, a, b, relu)
		for i, v := range x {
			want := float64(v)*float64(a) + float64(b)
			if relu && want < 0 {
				want = 0
			}
			if !same(float64(dst[i]), float64(float32(want))) {
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
			g := float64(y[i])
			if mask != nil && !(mask[i] > 0) {
				g = 0
			}
			d := float64(v) - float64(mean)
			want := float64(a)*g - float64(b) - float64(c)*d
			scale := math.Abs(float64(a)*g) + math.Abs(float64(b)) + math.Abs(float64(c)*d)
			got := float64(dst[i])
			if math.IsNaN(want) != math.IsNaN(got) || math.Abs(got-want) > 1e-6*scale+1e-7 {
				t.Errorf("n=%d mask=%t: NormGrad[%d] = %g, want %g", n, mask != nil, i, dst[i], want)
			}
		}
		if dst[n] != 42 {
			t.Errorf("n=%d: NormGrad wrote past len(x)", n)
		}
	}
}

// TestMask holds Mask, at every level, and maskGo to their definition, NaN
// in m included.
func TestMask(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, n := range testLengths(rng) {
			checkMask(t, rng, n, Mask)
		}
		Mask(nil, nil, nil)
	})
	rng := rand.New(rand.NewPCG(15, 16))
	for _, n := range lengths[1:] {
		checkMask(t, rng, n, maskGo)
	}
}

func checkMask(t *testing.T, rng *rand.Rand, n int, f func(dst, y, m []float32)) {
	t.Helper()
	y, m := randSlice(rng, n), randSlice(rng, n)
	if n > 0 {
		m[rng.IntN(n)] = float32(math.NaN())
		y[rng.IntN(n)] = float32(math.Inf(1))
	}
	dst := make([]float32, n+1)
	dst[n] = 42
	f(dst, y, m)
	for i, v := range y {
		want := v
		if !(m[i] > 0) {
			want = 0
		}
		if dst[i] != want || math.Signbit(float64(dst[i])) != math.Signbit(float64(want)) {
			t.Errorf("n=%d: dst[%d] = %g, want %g", n, i, dst[i], want)
		}
	}
	if dst[n] != 42 {
		t.Errorf("n=%d: wrote past len(y)", n)
	}
}

// TestInterleave2 checks Deinterleave2 and Interleave2, at every level,
// against their definitions at every length to 100 and some longer ones,
// writing nothing else.
func TestInterleave2(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for n := 1; n <= 100; n++ {
			checkInterleave2(t, rng, n)
		}
		for _, n := range testLengths(rng) {
			checkInterleave2(t, rng, n)
		}
		Deinterleave2(nil, nil, nil)
		Interleave2(nil, nil, nil)
	})
	// The plain-Go versions, on one length.
	rng := rand.New(rand.NewPCG(9, 10))
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

func checkInterleave2(t *testing.T, rng *rand.Rand, n int) {
	t.Helper()
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

// TestNoReadPastEnd runs every loop at every level on inputs that end
// where an unreadable page begins (on Linux; elsewhere on ordinary
// slices), so that a load past the last value faults.
func TestNoReadPastEnd(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(17, 18))
		for n := 1; n <= 70; n++ {
			x, y, m := guarded(t, rng, n), guarded(t, rng, n), guarded(t, rng, n)
			dst := make([]float32, n)
			Moments(x, nil, nil, 0.5)
			Moments(x, y, nil, 0.5)
			Moments(x, y, m, 0.5)
			Affine(dst, x, 2, 1, false)
			Affine(dst, x, 2, 1, true)
			NormGrad(dst, x, y, nil, 1, 2, 3, 4)
			NormGrad(dst, x, y, m, 1, 2, 3, 4)
			Mask(dst, y, m)
			even, odd := guarded(t, rng, (n+1)/2), guarded(t, rng, n/2)
			Deinterleave2(make([]float32, (n+1)/2), make([]float32, n/2), x)
			Interleave2(dst, even, odd)
		}
	})
}

// FuzzVec checks every loop at every level against its definition on a
// fuzzed length, with the inputs starting off values into their buffers.
func FuzzVec(f *testing.F) {
	f.Add(uint16(0), uint64(1))
	f.Add(uint16(7), uint64(2))
	f.Add(uint16(33), uint64(3))
	f.Add(uint16(1001), uint64(4))
	f.Fuzz(func(t *testing.T, n uint16, seed uint64) {
		saved := level
		defer func() { level = saved }()
		for l := 0; l <= maxLevel(); l++ {
			level = l
			rng := rand.New(rand.NewPCG(seed, uint64(l)))
			n := int(n % 5000)
			checkMoments(t, rng, n, Moments)
			checkAffineAndNormGrad(t, rng, n, Affine, NormGrad)
			checkMask(t, rng, n, Mask)
			checkInterleave2(t, rng, n)
			if t.Failed() {
				t.Fatalf("at level %s", levelNames[l])
			}
		}
	})
}

// BenchmarkMoments times the masked moments of 4096 values (one batch-norm
// channel of a 4x32x32 clip) at every level.
func BenchmarkMoments(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	x, y, m := randSlice(rng, 4096), randSlice(rng, 4096), randSlice(rng, 4096)
	benchLevels(b, 3*4*4096, func() { Moments(x, y, m, 0.5) })
}

// BenchmarkLoops times each of the other loops on 4096 values (or 4096
// values of src and dst for the (de)interleaves) at every level.
func BenchmarkLoops(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	x, y, m, dst := randSlice(rng, 4096), randSlice(rng, 4096), randSlice(rng, 4096), make([]float32, 4096)
	even, odd := make([]float32, 2048), make([]float32, 2048)
	b.Run("moments-x", func(b *testing.B) { benchLevels(b, 4*4096, func() { Moments(x, nil, nil, 0.5) }) })
	b.Run("affine-relu", func(b *testing.B) { benchLevels(b, 2*4*4096, func() { Affine(dst, x, 2, 1, true) }) })
	b.Run("normgrad-mask", func(b *testing.B) {
		benchLevels(b, 4*4*4096, func() { NormGrad(dst, x, y, m, 1, 2, 3, 4) })
	})
	b.Run("mask", func(b *testing.B) { benchLevels(b, 3*4*4096, func() { Mask(dst, y, m) }) })
	b.Run("deinterleave2", func(b *testing.B) { benchLevels(b, 2*4*4096, func() { Deinterleave2(even, odd, x) }) })
	b.Run("interleave2", func(b *testing.B) { benchLevels(b, 2*4*4096, func() { Interleave2(dst, even, odd) }) })
}

// benchLevels runs f as a sub-benchmark at each level.
func benchLevels(b *testing.B, bytes int64, f func()) {
	saved := level
	defer func() { level = saved }()
	for l := 0; l <= maxLevel(); l++ {
		level = l
		b.Run(levelNames[l], func(b *testing.B) {
			b.SetBytes(bytes)
			for b.Loop() {
				f()
			}
		})
	}
}

// TestAdam holds Adam, at every level, with and without weight decay, to
// its definition in float64 (and adamGo to within one rounding of it), on
// unaligned slices ending at a guard page, writing nothing past them.
func TestAdam(t *testing.T) {
	forEachLevel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(17, 18))
		for _, n := range testLengths(rng) {
			for _, wd := range []float32{0, 0.01} {
				checkAdam(t, rng, n, wd)
			}
		}
		Adam(nil, nil, nil, nil, AdamCoeffs{})
	})
}

func checkAdam(t *testing.T, rng *rand.Rand, n int, wd float32) {
	t.Helper()
	const b1, b2, lr, eps, step = 0.9, 0.999, 1e-3, 1e-8, 3
	bc1, bc2 := 1-math.Pow(b1, step), 1-math.Pow(b2, step)
	c := AdamCoeffs{Beta1: b1, OneMinusBeta1: 1 - b1, Beta2: b2, OneMinusBeta2: 1 - b2, WeightDecay: wd, Eps: eps,
		NegStep: float32(-lr / bc1), BC2Sqrt: float32(math.Sqrt(bc2))}
	p, g, m := randSlice(rng, n), guarded(t, rng, n), randSlice(rng, n)
	v := randSlice(rng, n)
	for i := range v {
		v[i] *= v[i] // a second moment is not negative
	}
	p0, m0, v0 := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
	pg, mg, vg := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
	sentinel := make([]float32, n+1)
	copy(sentinel, p)
	sentinel[n] = 42
	p = sentinel[:n]
	Adam(p, g, m, v, c)
	adamGo(pg, g, mg, vg, c)
	if sentinel[n] != 42 {
		t.Fatalf("n=%d: wrote past len(p)", n)
	}
	// Errors are relative to the terms summed (float32 rounds 1-b1 too).
	close := func(got float32, want, scale, tol float64) bool {
		return math.Abs(float64(got)-want) <= tol*(1e-6+scale)
	}
	for i := range p {
		gi := float64(g[i]) + float64(wd)*float64(p0[i])
		wm := b1*float64(m0[i]) + (1-b1)*gi
		wv := b2*float64(v0[i]) + (1-b2)*gi*gi
		d := math.Sqrt(wv)/math.Sqrt(bc2) + eps
		wp := float64(p0[i]) - lr/bc1*wm/d
		ms, vs := math.Abs(b1*float64(m0[i]))+math.Abs((1-b1)*gi), b2*float64(v0[i])+(1-b2)*gi*gi
		ps := math.Abs(float64(p0[i])) + lr/bc1*ms/d
		if !close(m[i], wm, ms, 1e-5) || !close(v[i], wv, vs, 1e-5) || !close(p[i], wp, ps, 1e-5) {
			t.Errorf("n=%d wd=%g: [%d] p, m, v = %g, %g, %g, want %g, %g, %g", n, wd, i, p[i], m[i], v[i], wp, wm, wv)
			return
		}
		if !close(m[i], float64(mg[i]), ms, 1e-6) || v[i] != vg[i] || !close(p[i], float64(pg[i]), ps, 1e-6) {
			t.Errorf("n=%d wd=%g: [%d] p, m, v = %g, %g, %g, adamGo %g, %g, %g", n, wd, i, p[i], m[i], v[i], pg[i], mg[i], vg[i])
			return
		}
	}
}
