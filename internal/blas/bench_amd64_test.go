//go:build amd64

package blas

import (
	"testing"
	"time"
)

// BenchmarkPeak measures one core's clock (a chain of dependent one-cycle
// adds) and its FMA throughput (independent FMAs), and reports the peak
// GFLOP/s and the flops per cycle. Run it with -cpu 1.
func BenchmarkPeak(b *testing.B) {
	const n = 1 << 20
	clock := func() float64 { // cycles per second
		start := time.Now()
		addChain(n)
		return 16 * n / time.Since(start).Seconds()
	}
	b.Run("clock", func(b *testing.B) {
		best := 0.0
		for i := 0; i < b.N; i++ {
			best = max(best, clock())
		}
		b.ReportMetric(best/1e9, "GHz")
	})
	for _, fma := range []struct {
		name  string
		ok    bool
		run   func(int)
		flops float64 // an iteration
	}{{"avx512", hasAVX512, fmaLoopAVX512, 16 * 16 * 2}, {"avx2", hasAVX2, fmaLoopAVX2, 12 * 8 * 2}} {
		if !fma.ok {
			continue
		}
		b.Run("fma-"+fma.name, func(b *testing.B) {
			best, hz := 0.0, 0.0
			for i := 0; i < b.N; i++ {
				start := time.Now()
				fma.run(n)
				best = max(best, fma.flops*n/time.Since(start).Seconds())
				hz = max(hz, clock())
			}
			b.ReportMetric(best/1e9, "GFLOP/s")
			b.ReportMetric(best/hz, "flop/cycle")
		})
	}
}
