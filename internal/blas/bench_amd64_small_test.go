//go:build amd64

package blas

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAVX2Rows times forward products of a width-8 network (m = 8 or
// 16 output channels, n positions, k = Cin*27) and of R3D-18 (m = 64) on
// one goroutine with the AVX2 kernels: 6x16 alone, as Go chooses them (the
// 4x24 kernel reading A in place where 6x16 pads m by over 25% more: m = 8),
// and with the 4x24 kernel at every m, A packed.
func BenchmarkAVX2Rows(b *testing.B) {
	if !hasAVX2 {
		b.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(3, 3))
	six := avx2Kernel
	six.alt = nil
	packed := avx2Kernel4
	packed.inPlaceA = false
	withPacked := avx2Kernel
	withPacked.alt, withPacked.altMargin = &packed, 0
	for _, s := range []struct{ m, n, k int }{{8, 2304, 216}, {16, 576, 216}, {16, 576, 432}, {64, 1024, 1728}} {
		a, bb, c := make([]float32, s.m*s.k), make([]float32, s.k*s.n), make([]float32, s.m*s.n)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		for i := range bb {
			bb[i] = float32(rng.NormFloat64())
		}
		for _, v := range []struct {
			name string
			k    kernel
		}{{"6x16", six}, {"go", avx2Kernel}, {"4x24packed", withPacked}} {
			impl := &goImpl{name: v.name, k: v.k, noSplit: true}
			b.Run(fmt.Sprintf("%dx%dx%d/%s", s.m, s.n, s.k, v.name), func(b *testing.B) {
				cpu0 := cpuSeconds()
				for i := 0; i < b.N; i++ {
					impl.Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
				}
				reportFlops(b, 2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N), cpu0)
			})
		}
	}
}
