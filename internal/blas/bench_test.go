package blas

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
)

// BenchmarkKernel times each micro-kernel alone on a kc = 256 tile whose
// panels stay in L1: the most the SGEMM can reach on one core. The metric
// GFLOP/s counts two flops per multiply-add.
func BenchmarkKernel(b *testing.B) {
	for _, impl := range goImpls() {
		k := impl.k
		const kc = kcBlock
		a, bp, c := make([]float32, k.mr*kc), make([]float32, k.nr*kc), make([]float32, k.mr*k.nr)
		for i := range a {
			a[i] = 0.001 * float32(i%7)
		}
		for i := range bp {
			bp[i] = 0.001 * float32(i%5)
		}
		b.Run(impl.name, func(b *testing.B) {
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				k.run(kc, a, bp, k.nr, c, k.nr, 1, 1)
			}
			reportFlops(b, 2*float64(k.mr*k.nr*kc)*float64(b.N), cpu0)
		})
	}
}

// BenchmarkSgemm times whole products at shapes of R3D-18's convolutions
// (forward: Cout x positions x Cin*27; input gradient: transposed A; weight
// gradient: transposed B) for every implementation. With -cpu 1 it is the
// single-thread figure.
func BenchmarkSgemm(b *testing.B) {
	impls := []Impl{Gonum()}
	for _, g := range goImpls() {
		if g.name != "go-generic" || !testing.Short() {
			impls = append(impls, g)
		}
	}
	if o, err := OpenBLAS(); err == nil {
		impls = append(impls, o)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range []struct {
		name    string
		ta, tb  bool
		m, n, k int
	}{
		{"fwd-64x1024x1728", false, false, 64, 1024, 1728},
		{"fwd-256x784x6912", false, false, 256, 784, 6912},
		{"bwdData-1728x1024x64", true, false, 1728, 1024, 64},
		{"bwdFilter-64x1728x1024", false, true, 64, 1728, 1024},
		{"square-512", false, false, 512, 512, 512},
	} {
		ra, ca := s.m, s.k
		if s.ta {
			ra, ca = s.k, s.m
		}
		rb, cb := s.k, s.n
		if s.tb {
			rb, cb = s.n, s.k
		}
		a, bb, c := make([]float32, ra*ca), make([]float32, rb*cb), make([]float32, s.m*s.n)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		for i := range bb {
			bb[i] = float32(rng.NormFloat64())
		}
		for _, impl := range impls {
			b.Run(fmt.Sprintf("%s/%s", s.name, impl.Name()), func(b *testing.B) {
				cpu0 := cpuSeconds()
				for i := 0; i < b.N; i++ {
					impl.Sgemm(s.ta, s.tb, s.m, s.n, s.k, 1, a, ca, bb, cb, 0, c, s.n)
				}
				reportFlops(b, 2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N), cpu0)
			})
		}
	}
}

// reportFlops reports flops done since the benchmark started as GFLOP/s of
// wall time and, where the CPU time is known, as GFLOP per CPU second
// ("GFLOP/cpu-s"): with -cpu 1 the latter is the speed while the benchmark
// had a core, whatever other processes took.
func reportFlops(b *testing.B, flops, cpu0 float64) {
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu := cpuSeconds() - cpu0; cpu0 > 0 && cpu > 0 {
		b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkWeightGradSmall times the weight-gradient products of a width-8
// network (C = A*B^T with m = 4, 8 or 16 output channels, n = Cin*27
// and k = positions) on one goroutine, with each kernel set as Go chooses
// it and, where the set has a dot-product kernel, without it (the
// transposed product, serialTransposed), to show what the dot kernel gains.
func BenchmarkWeightGradSmall(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	ks := allKernels()
	if k, name, ok := simdKernel(); ok {
		ks[name] = k
	}
	var names []string
	for name, k := range ks {
		if name == "generic" || (k.dot == nil && name != "avx512") {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, s := range []struct{ m, n, k int }{{8, 216, 9216}, {4, 108, 9216}, {16, 216, 2304}, {16, 8, 288}, {32, 8, 2304}} {
		a, bb, c := make([]float32, s.m*s.k), make([]float32, s.n*s.k), make([]float32, s.m*s.n)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		for i := range bb {
			bb[i] = float32(rng.NormFloat64())
		}
		for _, name := range names {
			withDot := ks[name]
			noDot := withDot
			noDot.dot = nil
			for _, v := range []struct {
				suffix string
				k      kernel
			}{{"", withDot}, {"-nodot", noDot}} {
				if v.suffix != "" && withDot.dot == nil {
					continue
				}
				impl := &goImpl{name: "go-" + name + v.suffix, k: v.k, noSplit: true}
				b.Run(fmt.Sprintf("%dx%dx%d/%s", s.m, s.n, s.k, impl.name), func(b *testing.B) {
					cpu0 := cpuSeconds()
					for i := 0; i < b.N; i++ {
						impl.Sgemm(false, true, s.m, s.n, s.k, 1, a, s.k, bb, s.k, 0, c, s.n)
					}
					reportFlops(b, 2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N), cpu0)
				})
			}
		}
	}
}
