package blas

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmOffsetsMatchesDefinition runs SgemmOffsets with every kernel on
// randomised shapes around the tile and block sizes, rows of B at random
// offsets (overlapping, as a convolution's taps are), x ending at a page
// that faults when read, and C cut out of a larger buffer with a sentinel
// around it.
func TestSgemmOffsetsMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	dims := []int{1, 2, 3, 5, 7, 8, 12, 13, 16, 17, 24, 31, 32, 33, 47, 64, 65}
	type tc struct{ m, n, k int }
	var cases []tc
	for i := 0; i < 60; i++ {
		cases = append(cases, tc{dims[rng.IntN(len(dims))], dims[rng.IntN(len(dims))], dims[rng.IntN(len(dims))]})
	}
	cases = append(cases, tc{64, 1100, 300}, tc{512, 61, 300}, tc{130, 70, 40}, tc{70, 600, 520}, tc{8, 3246, 216}, tc{13, 700, 9}, tc{3, 97, 1}, tc{5, 4, 0})
	for _, impl := range goImpls() {
		for _, c := range cases {
			m, n, k := c.m, c.n, c.k
			lda, ldc := max(k, 1)+rng.IntN(3), n+rng.IntN(3)
			span := n + rng.IntN(200)
			x := guardedBuf(t, span)
			for i := range x {
				x[i] = rng.Float32()*2 - 1
			}
			off := make([]int, k)
			for p := range off {
				off[p] = rng.IntN(span - n + 1)
			}
			if k > 0 && rng.IntN(2) == 0 {
				off[rng.IntN(k)] = span - n // the last row B may have
			}
			a := make([]float32, max(0, (m-1)*lda+k)+rng.IntN(2))
			for i := range a {
				a[i] = rng.Float32()*2 - 1
			}
			const sentinel = 12345
			cbuf := make([]float32, 2+(m-1)*ldc+n+2)
			for i := range cbuf {
				cbuf[i] = sentinel
			}
			cm := cbuf[2 : 2+(m-1)*ldc+n]
			impl.SgemmOffsets(m, n, k, a, lda, x, off, cm, ldc)
			bad := 0
			for i := 0; i < m; i++ {
				for j := 0; j < ldc; j++ {
					got := cbuf[2+i*ldc+j]
					if j >= n {
						if i < m-1 && got != sentinel {
							t.Fatalf("%s %v: C[%d,%d] (outside the matrix) written", impl.name, c, i, j)
						}
						continue
					}
					var want float64
					for p := 0; p < k; p++ {
						want += float64(a[i*lda+p]) * float64(x[off[p]+j])
					}
					if d := math.Abs(float64(got) - want); !(d <= 1e-5*float64(k+1)*(1+math.Abs(want))) {
						if bad++; bad <= 3 {
							t.Errorf("%s %v: C[%d,%d] = %g, want %g", impl.name, c, i, j, got, want)
						}
					}
				}
			}
			if cbuf[0] != sentinel || cbuf[1] != sentinel || cbuf[len(cbuf)-1] != sentinel || cbuf[len(cbuf)-2] != sentinel {
				t.Fatalf("%s %v: C's neighbours written", impl.name, c)
			}
		}
	}
}

// TestSgemmOffsetsRefusesBadOffsets checks that an offset that would read
// past x panics instead of reading it.
func TestSgemmOffsetsRefusesBadOffsets(t *testing.T) {
	impl := Go().(*goImpl)
	x, a, c := make([]float32, 100), make([]float32, 8*4), make([]float32, 8*64)
	for _, off := range [][]int{{0, 1, 37, 0}, {-1, 0, 0, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("offsets %v: no panic", off)
				}
			}()
			impl.SgemmOffsets(8, 64, 4, a, 4, x, off, c, 64)
		}()
	}
}

// TestReadsInPlace checks which back ends say they read in place.
func TestReadsInPlace(t *testing.T) {
	if ReadsInPlace(Gonum()) || ReadsInPlace(GoGeneric()) {
		t.Error("gonum or the generic kernel reads in place")
	}
	_, name, simd := simdKernel()
	if got, want := ReadsInPlace(Go()), simd && name == "avx512"; got != want {
		t.Errorf("ReadsInPlace(Go()) = %t, want %t (AVX-512)", got, want)
	}
}
