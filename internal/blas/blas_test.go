package blas

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// naiveGemm is the definition of Sgemm, computed in float64.
func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				ai, bi := i*lda+p, p*ldb+j
				if transA {
					ai = p*lda + i
				}
				if transB {
					bi = j*ldb + p
				}
				av, bv := a[ai], b[bi]
				s += float64(av) * float64(bv)
			}
			c[i*ldc+j] = float32(float64(alpha)*s + float64(beta)*float64(c[i*ldc+j]))
		}
	}
}

func impls(t *testing.T) []Impl {
	out := []Impl{Gonum(), Go(), GoGeneric()}
	if o, err := OpenBLAS(); err == nil {
		out = append(out, o)
	} else {
		t.Logf("OpenBLAS not tested: %v", err)
	}
	return out
}

func TestSgemmMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randSlice := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	for _, impl := range impls(t) {
		for _, tc := range []struct {
			ta, tb  bool
			m, n, k int
		}{{false, false, 7, 5, 3}, {true, false, 4, 9, 6}, {false, true, 33, 17, 65}, {true, true, 3, 2, 1}, {false, false, 1, 1, 300},
			// Large enough that OpenBLAS's Sgemm splits them across goroutines,
			// by columns and by rows, with parts that are not whole panels.
			{false, false, 40, 330, 80}, {true, true, 40, 330, 80}, {false, true, 330, 40, 80}, {true, false, 330, 40, 80}} {
			rowsA, colsA := tc.m, tc.k
			if tc.ta {
				rowsA, colsA = tc.k, tc.m
			}
			rowsB, colsB := tc.k, tc.n
			if tc.tb {
				rowsB, colsB = tc.n, tc.k
			}
			a, b, c := randSlice(rowsA*colsA), randSlice(rowsB*colsB), randSlice(tc.m*tc.n)
			want := append([]float32(nil), c...)
			naiveGemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, 0.5, a, colsA, b, colsB, 2, want, tc.n)
			impl.Sgemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, 0.5, a, colsA, b, colsB, 2, c, tc.n)
			if d := cmp.Diff(want, c, cmpopts.EquateApprox(1e-5, 1e-5)); d != "" {
				t.Errorf("%s %+v: mismatch (-want +got):\n%s", impl.Name(), tc, d)
			}
		}
	}
}

func TestChoose(t *testing.T) {
	if impl, err := choose("gonum"); err != nil || impl.Name() != "gonum" {
		t.Errorf(`choose("gonum") = %v, %v`, impl, err)
	}
	if impl, err := choose("go-generic"); err != nil || impl.Name() != "go-generic" {
		t.Errorf(`choose("go-generic") = %v, %v`, impl, err)
	}
	best := "go-generic"
	if _, name, ok := simdKernel(); ok {
		best = "go-" + name
	}
	if impl, err := choose("go"); err != nil || impl.Name() != best {
		t.Errorf(`choose("go") = %v, %v; want %s`, impl, err, best)
	}
	auto, err := choose("")
	if err != nil {
		t.Errorf(`choose("") gave %v`, err)
	}
	_, loadErr := OpenBLAS()
	switch {
	case best == "go-avx512" && auto.Name() != best:
		t.Errorf(`choose("") = %s with AVX-512; want %s`, auto.Name(), best)
	case best != "go-avx512" && loadErr == nil && auto.Name() != "openblas":
		t.Errorf(`choose("") = %s without AVX-512, OpenBLAS present; want openblas`, auto.Name())
	case best != "go-avx512" && best != "go-generic" && loadErr != nil && auto.Name() != best:
		t.Errorf(`choose("") = %s without AVX-512 or OpenBLAS; want %s`, auto.Name(), best)
	case best == "go-generic" && loadErr != nil && auto.Name() != "gonum":
		t.Errorf(`choose("") = %s without a SIMD kernel or OpenBLAS; want gonum`, auto.Name())
	}
	if impl, err := choose("go-avx2"); hasAVX2Kernel() {
		if err != nil || impl.Name() != "go-avx2" || impl.(*goImpl).k.dot == nil {
			t.Errorf(`choose("go-avx2") = %v, %v on a CPU with AVX2; want go-avx2 with a dot kernel`, impl.Name(), err)
		}
	} else if err == nil {
		t.Errorf(`choose("go-avx2") gave no error on a CPU without AVX2`)
	}
	if _, err := choose("mkl"); err == nil {
		t.Error(`choose("mkl") gave no error`)
	}
	impl, err := choose("openblas")
	if _, loadErr := OpenBLAS(); loadErr == nil {
		if err != nil || impl.Name() != "openblas" {
			t.Errorf(`choose("openblas") = %v, %v with OpenBLAS present`, impl, err)
		}
	} else if err == nil {
		t.Error(`choose("openblas") gave no error without OpenBLAS`)
	}
}

func TestShortSliceIsCaught(t *testing.T) {
	o, err := OpenBLAS()
	if err != nil {
		t.Skip("OpenBLAS not present:", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("no panic for a too-short C")
		}
	}()
	o.Sgemm(false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 3), 2)
}

func TestCPUInfoNamesTheKernelsExtensions(t *testing.T) {
	info := CPUInfo()
	_, name, ok := simdKernel()
	if ok && name == "avx512" && !strings.Contains(info, "avx512f") {
		t.Errorf("CPUInfo() = %q; the AVX-512 kernel is in use", info)
	}
	if ok && name == "avx2" && !strings.Contains(info, "avx2 fma") {
		t.Errorf("CPUInfo() = %q; the AVX2 kernel is in use", info)
	}
}

// TestSerial checks which back ends Serial makes serial, and that a serial
// product that the default would split across goroutines stays on the
// calling one.
func TestSerial(t *testing.T) {
	s, ok := Serial(Go())
	if !ok || !s.(*goImpl).noSplit || s.Name() != Go().Name() {
		t.Errorf("Serial(Go()) = %v %v, want a serial %s", s.Name(), ok, Go().Name())
	}
	if s2, ok := Serial(s); !ok || s2 != s {
		t.Errorf("Serial of a serial impl made a new one")
	}
	if _, ok := Serial(Gonum()); ok {
		t.Errorf("Serial(Gonum()) reports serial")
	}
	if Go().(*goImpl).noSplit {
		t.Errorf("Go() is serial")
	}
	const m, n, k = 64, 512, 64 // m*n*k >= goSplitMinWork
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	allocs := testing.AllocsPerRun(5, func() {
		s.Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	})
	// A split would allocate its goroutines and closures. Under the race
	// detector sync.Pool drops some packing buffers on purpose, so the
	// count is not zero there whatever the product does.
	if allocs != 0 && !raceEnabled {
		t.Errorf("serial Sgemm: %v allocations a call, want 0", allocs)
	}
}

// hasAVX2Kernel says whether VIDSSL_BLAS=go-avx2 can be honoured here.
func hasAVX2Kernel() bool {
	_, ok := namedKernel("avx2")
	return ok
}
