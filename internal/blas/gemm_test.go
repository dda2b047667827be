package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// goImpls returns vidssl's SGEMM with every micro-kernel this CPU runs
// alone, and as Go returns it (choosing between kernels by the rows of C).
func goImpls() []*goImpl {
	ks := allKernels()
	names := make([]string, 0, len(ks))
	for name := range ks {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*goImpl
	for _, name := range names {
		out = append(out, &goImpl{name: "go-" + name, k: ks[name]})
	}
	best := Go().(*goImpl)
	serial, _ := Serial(best)
	return append(out, &goImpl{name: best.name + "+alt", k: best.k}, serial.(*goImpl))
}

// gemmCase is one Sgemm call on matrices cut out of larger buffers: each
// matrix starts off values into its buffer and its rows are pad values
// longer than its width, and C's buffer is filled with a sentinel outside
// the matrix, so writes out of place show.
type gemmCase struct {
	ta, tb      bool
	m, n, k     int
	alpha, beta float32
	pad, off    int
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("ta=%v tb=%v m=%d n=%d k=%d alpha=%g beta=%g pad=%d off=%d", tc.ta, tc.tb, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.pad, tc.off)
}

// check runs tc on impl and compares with naiveGemm in float64, with a
// tolerance that scales with k and the size of the terms.
func (tc gemmCase) check(t *testing.T, impl Impl, rng *rand.Rand) {
	t.Helper()
	rowsA, colsA := tc.m, tc.k
	if tc.ta {
		rowsA, colsA = tc.k, tc.m
	}
	rowsB, colsB := tc.k, tc.n
	if tc.tb {
		rowsB, colsB = tc.n, tc.k
	}
	lda, ldb, ldc := max(1, colsA+tc.pad), max(1, colsB+tc.pad), max(1, tc.n+tc.pad)
	fill := func(rows, ld int) []float32 {
		s := make([]float32, tc.off+max(0, (rows-1)*ld+ld)+3)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	abuf, bbuf := fill(rowsA, lda), fill(rowsB, ldb)
	const sentinel = float32(-12345)
	cbuf := make([]float32, tc.off+tc.m*ldc+3)
	for i := range cbuf {
		cbuf[i] = sentinel
	}
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			if tc.beta == 0 {
				cbuf[tc.off+i*ldc+j] = float32(math.NaN()) // must not be read
			} else {
				cbuf[tc.off+i*ldc+j] = float32(rng.NormFloat64())
			}
		}
	}
	a, b := abuf[tc.off:], bbuf[tc.off:]
	want := slices.Clone(cbuf)
	if tc.beta == 0 {
		for i := 0; i < tc.m; i++ {
			for j := 0; j < tc.n; j++ {
				want[tc.off+i*ldc+j] = 0
			}
		}
	}
	naiveGemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want[tc.off:], ldc)
	got := slices.Clone(cbuf)
	impl.Sgemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, got[tc.off:], ldc)
	tol := 1e-5 * float64(max(1, tc.k))
	bad := 0
	for i := range got {
		inside := i >= tc.off && (i-tc.off)/ldc < tc.m && (i-tc.off)%ldc < tc.n
		if !inside {
			if got[i] != sentinel {
				t.Fatalf("%s %v: wrote %g at %d, outside C", impl.Name(), tc, got[i], i)
			}
			continue
		}
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*(1+math.Abs(float64(want[i])))) {
			if bad++; bad <= 3 {
				t.Errorf("%s %v: C[%d,%d] = %g, want %g", impl.Name(), tc, (i-tc.off)/ldc, (i-tc.off)%ldc, got[i], want[i])
			}
		}
	}
	if bad > 3 {
		t.Errorf("%s %v: %d values wrong in all", impl.Name(), tc, bad)
	}
}

// TestGoSgemmMatchesDefinition runs every micro-kernel on randomised shapes
// around the tile and block sizes, with every transpose, leading dimensions
// larger than the width, unaligned starts and several alpha and beta.
func TestGoSgemmMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	dims := []int{1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 32, 33, 47, 65}
	scales := [][2]float32{{1, 0}, {1, 1}, {0.5, 2}, {-1.5, 0}, {0, 0.5}}
	for _, impl := range goImpls() {
		for trial := 0; trial < 150; trial++ {
			tc := gemmCase{
				ta: rng.IntN(2) == 1, tb: rng.IntN(2) == 1,
				m: dims[rng.IntN(len(dims))], n: dims[rng.IntN(len(dims))], k: dims[rng.IntN(len(dims))],
				pad: rng.IntN(3) * rng.IntN(5), off: rng.IntN(4),
			}
			tc.alpha, tc.beta = scales[trial%len(scales)][0], scales[trial%len(scales)][1]
			tc.check(t, impl, rng)
		}
		// Past the block sizes (k > kcBlock: several k blocks, the later
		// ones with beta 1; n > ncBlock; m > mcBlock), and large enough to
		// be split across goroutines by columns and by rows.
		for _, tc := range []gemmCase{
			{m: 9, n: 600, k: 520, alpha: 1, beta: 0, pad: 1, off: 1},
			{ta: true, tb: true, m: 70, n: 530, k: 300, alpha: 0.5, beta: 2, pad: 3, off: 2},
			{tb: true, m: 1030, n: 5, k: 257, alpha: 1, beta: 1, off: 3},
			// A transposed B with few rows of C: computed transposed
			// (serialTransposed), over several k blocks.
			{tb: true, m: 96, n: 301, k: 600, alpha: 0.5, beta: 2, pad: 1, off: 1},
			{tb: true, m: 64, n: 1728, k: 300, alpha: 1, beta: 1},
			{tb: true, m: 8, n: 500, k: 300, alpha: 1, beta: 0, pad: 2, off: 1},
			// At most 8 rows of C (serialDot), k over several of its blocks.
			{tb: true, m: 5, n: 31, k: 1100, alpha: 0.5, beta: 2, pad: 1, off: 3},
			{tb: true, m: 8, n: 10, k: 1030, alpha: 1, beta: 0},
			{tb: true, m: 3, n: 4, k: 513, alpha: -1, beta: 1, pad: 2},
			// At most 8 columns of C and more rows (serialDot on C^T).
			{tb: true, m: 16, n: 8, k: 288, alpha: 1, beta: 1, pad: 1, off: 2},
			{tb: true, m: 37, n: 5, k: 1030, alpha: 0.5, beta: 0},
			{tb: true, m: 9, n: 1, k: 100, alpha: -1, beta: 2, pad: 3},
			{ta: true, m: 333, n: 77, k: 100, alpha: -1, beta: 0, pad: 2},
			{m: 64, n: 1111, k: 27, alpha: 1, beta: 0},
			{m: 0, n: 5, k: 5, alpha: 1, beta: 0},
			{m: 5, n: 3, k: 0, alpha: 1, beta: 0.5},
			{m: 5, n: 3, k: 0, alpha: 1, beta: 0},
		} {
			tc.check(t, impl, rng)
		}
	}
}

// TestKernelsMatchDefinition calls each micro-kernel alone, on full tiles.
func TestKernelsMatchDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for name, k := range allKernels() {
		for _, kc := range []int{1, 2, 3, 4, 5, 7, 8, 9, 256} {
			for _, beta := range []float32{0, 1, 0.25} {
				a, b := make([]float32, k.mr*kc), make([]float32, k.nr*kc)
				for i := range a {
					a[i] = float32(rng.NormFloat64())
				}
				for i := range b {
					b[i] = float32(rng.NormFloat64())
				}
				ldc := k.nr + 3
				c := make([]float32, (k.mr-1)*ldc+k.nr)
				for i := range c {
					c[i] = float32(rng.NormFloat64())
				}
				if beta == 0 {
					for i := range c {
						if i%ldc < k.nr {
							c[i] = float32(math.NaN())
						}
					}
				}
				want := slices.Clone(c)
				for i := 0; i < k.mr; i++ {
					for j := 0; j < k.nr; j++ {
						var s float64
						for p := 0; p < kc; p++ {
							s += float64(a[p*k.mr+i]) * float64(b[p*k.nr+j])
						}
						old := float64(0)
						if beta != 0 {
							old = float64(beta) * float64(c[i*ldc+j])
						}
						want[i*ldc+j] = float32(1.5*s + old)
					}
				}
				k.run(kc, a, b, k.nr, c, ldc, 1.5, beta)
				for i := range c {
					if d := math.Abs(float64(c[i] - want[i])); !(d <= 1e-4*float64(kc)*(1+math.Abs(float64(want[i])))) {
						t.Fatalf("%s kc=%d beta=%g: c[%d] = %g, want %g", name, kc, beta, i, c[i], want[i])
					}
				}
			}
		}
	}
}

// TestKernelRefusesShortSlices checks the bounds checks before the assembly.
func TestKernelRefusesShortSlices(t *testing.T) {
	for name, k := range allKernels() {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic for a too-short C", name)
				}
			}()
			k.run(4, make([]float32, 4*k.mr), make([]float32, 4*k.nr), k.nr, make([]float32, k.mr*k.nr-1), k.nr, 1, 0)
		}()
	}
}

// FuzzGoSgemm checks vidssl's SGEMM against the definition on fuzzed
// shapes, transposes, paddings, offsets and scales.
func FuzzGoSgemm(f *testing.F) {
	f.Add(uint8(7), uint8(5), uint8(3), uint8(0), uint8(1), uint8(1), uint64(1))
	f.Add(uint8(33), uint8(65), uint8(1), uint8(3), uint8(0), uint8(2), uint64(2))
	f.Add(uint8(1), uint8(1), uint8(200), uint8(2), uint8(2), uint8(3), uint64(3))
	impls := goImpls()
	f.Fuzz(func(t *testing.T, m, n, k, trans, pad, scale uint8, seed uint64) {
		tc := gemmCase{ta: trans&1 != 0, tb: trans&2 != 0, m: int(m) % 80, n: int(n) % 80, k: int(k), pad: int(pad % 5), off: int(pad/5) % 4}
		scales := [][2]float32{{1, 0}, {1, 1}, {0.5, 2}, {-1.5, 0}, {0, 0.5}}
		tc.alpha, tc.beta = scales[int(scale)%len(scales)][0], scales[int(scale)%len(scales)][1]
		rng := rand.New(rand.NewPCG(seed, 9))
		for _, impl := range impls {
			tc.check(t, impl, rng)
		}
	})
}

// TestDotKernel calls the dot kernel alone against float64 dot products, for
// lengths around its 16-value steps (the masked tail), leading dimensions
// longer than the rows and unaligned starts, and with one row of B read
// dotCols times (ldb 0, as serialDot does for the last rows).
func TestDotKernel(t *testing.T) {
	tested := 0
	ks := allKernels()
	if k, name, ok := simdKernel(); ok {
		ks[name+"-default"] = k
	}
	for name, k := range ks {
		if k.dot == nil {
			continue
		}
		tested++
		t.Run(name, func(t *testing.T) { testDotKernel(t, k) })
	}
	if tested == 0 {
		t.Skip("no dot kernel on this CPU")
	}
}

// testDotKernel holds k.dot to float64 dot products on lengths around the
// 8- and 16-value steps and 40 random ones.
func testDotKernel(t *testing.T, k kernel) {
	rng := rand.New(rand.NewPCG(8, 9))
	kcs := []int{1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 48, 63, 100, 257, 2304}
	for range 40 {
		kcs = append(kcs, 1+rng.IntN(600))
	}
	for _, kc := range kcs {
		for _, ldb0 := range []bool{false, true} {
			off := rng.IntN(5)
			lda, ldb := kc+rng.IntN(3), kc+rng.IntN(4)
			// Both end where an unreadable page begins (on Linux), so
			// that a load past the last row faults.
			a := guardedBuf(t, off+(dotRows-1)*lda+kc)
			b := guardedBuf(t, off+(dotCols-1)*ldb+kc)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
			for i := range b {
				b[i] = float32(rng.NormFloat64())
			}
			if ldb0 {
				ldb = 0
			}
			var got [dotRows * dotCols]float32
			k.dot(kc, a[off:], lda, b[off:], ldb, &got)
			for i := 0; i < dotRows; i++ {
				for j := 0; j < dotCols; j++ {
					var want, scale float64
					for p := 0; p < kc; p++ {
						x, y := float64(a[off+i*lda+p]), float64(b[off+j*ldb+p])
						want += x * y
						scale += math.Abs(x * y)
					}
					if d := math.Abs(float64(got[i*dotCols+j]) - want); d > 1e-5*scale+1e-6 {
						t.Errorf("k=%d ldb0=%t: t[%d,%d] = %g, want %g", kc, ldb0, i, j, got[i*dotCols+j], want)
					}
				}
			}
		}
	}
}
