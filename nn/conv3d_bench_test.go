package nn

import (
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// convBenchShapes are R3D-18's convolutions on a batch of two 16-frame
// 112x112 clips.
var convBenchShapes = []struct {
	name        string
	x, w        []int
	stride, pad [3]int
}{
	{"stem", []int{2, 3, 16, 112, 112}, []int{64, 3, 3, 7, 7}, [3]int{1, 2, 2}, [3]int{1, 3, 3}},
	{"layer1", []int{2, 64, 16, 56, 56}, []int{64, 64, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
	{"layer2.0.conv1", []int{2, 64, 16, 56, 56}, []int{128, 64, 3, 3, 3}, [3]int{2, 2, 2}, [3]int{1, 1, 1}},
	{"layer2", []int{2, 128, 8, 28, 28}, []int{128, 128, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
	{"layer2.0.downsample", []int{2, 64, 16, 56, 56}, []int{128, 64, 1, 1, 1}, [3]int{2, 2, 2}, [3]int{}},
	{"layer3", []int{2, 256, 4, 14, 14}, []int{256, 256, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
	{"layer4", []int{2, 512, 2, 7, 7}, []int{512, 512, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
	{"pointwise", []int{2, 128, 8, 28, 28}, []int{256, 128, 1, 1, 1}, [3]int{1, 1, 1}, [3]int{}},
}

// smallConvBenchShapes are the convolutions of the example's width-8 R3D
// (one block per stage) on a pretraining batch of 64 4-frame 48x48 clips.
var smallConvBenchShapes = []struct {
	name        string
	x, w        []int
	stride, pad [3]int
}{
	{"small/stem", []int{64, 3, 4, 48, 48}, []int{8, 3, 3, 7, 7}, [3]int{1, 2, 2}, [3]int{1, 3, 3}},
	{"small/layer1", []int{64, 8, 4, 24, 24}, []int{8, 8, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
	{"small/layer2.0.conv1", []int{64, 8, 4, 24, 24}, []int{16, 8, 3, 3, 3}, [3]int{2, 2, 2}, [3]int{1, 1, 1}},
	{"small/layer2.0.downsample", []int{64, 8, 4, 24, 24}, []int{16, 8, 1, 1, 1}, [3]int{2, 2, 2}, [3]int{}},
	{"small/layer2", []int{64, 16, 2, 12, 12}, []int{16, 16, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
	{"small/layer3.0.conv1", []int{64, 16, 2, 12, 12}, []int{32, 16, 3, 3, 3}, [3]int{2, 2, 2}, [3]int{1, 1, 1}},
	{"small/layer3", []int{64, 32, 1, 6, 6}, []int{32, 32, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
	{"small/layer4.0.conv1", []int{64, 32, 1, 6, 6}, []int{64, 32, 3, 3, 3}, [3]int{2, 2, 2}, [3]int{1, 1, 1}},
	{"small/layer4", []int{64, 64, 1, 3, 3}, []int{64, 64, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
}

// BenchmarkConv3dForward times the forward op at R3D-18 shapes and the
// example's small ones, and reports
// GFLOP/s (2 flops per multiply-accumulate).
func BenchmarkConv3dForward(b *testing.B) {
	for _, s := range append(convBenchShapes, smallConvBenchShapes...) {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			x, w := randTensor(rng, 0, s.x...), randTensor(rng, 0, s.w...)
			geo, err := newConvGeom(s.name, s.x, s.w, nil, false, s.stride, s.pad)
			if err != nil {
				b.Fatal(err)
			}
			op := &conv3dOp{opBase: opBase{name: s.name}, geo: geo}
			if _, err := op.Do(x, w); err != nil { // warm-up: scratch buffers
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for b.Loop() {
				if _, err := op.Do(x, w); err != nil {
					b.Fatal(err)
				}
			}
			reportFlops(b, convFlops(&geo)*float64(b.N), cpu0)
		})
	}
}

// BenchmarkConv3dBackward times the backward-data and backward-filter ops
// together and reports GFLOP/s.
func BenchmarkConv3dBackward(b *testing.B) {
	for _, s := range append(convBenchShapes, smallConvBenchShapes...) {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			x, w := randTensor(rng, 0, s.x...), randTensor(rng, 0, s.w...)
			geo, err := newConvGeom(s.name, s.x, s.w, nil, false, s.stride, s.pad)
			if err != nil {
				b.Fatal(err)
			}
			dy := randTensor(rng, 0, geo.yShape()...)
			data := &conv3dDataGradOp{opBase: opBase{name: s.name}, geo: geo}
			filter := &conv3dFilterGradOp{opBase: opBase{name: s.name}, geo: geo}
			run := func() {
				if _, err := data.Do(w, dy); err != nil {
					b.Fatal(err)
				}
				if _, err := filter.Do(x, dy); err != nil {
					b.Fatal(err)
				}
			}
			run()
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for b.Loop() {
				run()
			}
			reportFlops(b, 2*convFlops(&geo)*float64(b.N), cpu0)
		})
	}
}

// BenchmarkConv3dBackwardData times the input gradient at layer1's shape.
func BenchmarkConv3dBackwardData(b *testing.B) {
	benchConvGrad(b, func(geo convGeom, x, w, dy *tensor.Dense) error {
		_, err := (&conv3dDataGradOp{geo: geo}).Do(w, dy)
		return err
	})
}

// BenchmarkConv3dBackwardFilter times the weight gradient at layer1's shape.
func BenchmarkConv3dBackwardFilter(b *testing.B) {
	benchConvGrad(b, func(geo convGeom, x, w, dy *tensor.Dense) error {
		_, err := (&conv3dFilterGradOp{geo: geo}).Do(x, dy)
		return err
	})
}

func benchConvGrad(b *testing.B, f func(geo convGeom, x, w, dy *tensor.Dense) error) {
	s := convBenchShapes[1]
	rng := rand.New(rand.NewPCG(1, 1))
	x, w := randTensor(rng, 0, s.x...), randTensor(rng, 0, s.w...)
	geo, err := newConvGeom(s.name, s.x, s.w, nil, false, s.stride, s.pad)
	if err != nil {
		b.Fatal(err)
	}
	dy := randTensor(rng, 0, geo.yShape()...)
	if err := f(geo, x, w, dy); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := f(geo, x, w, dy); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(convFlops(&geo)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// convFlops is the number of floating-point operations of one forward pass.
func convFlops(g *convGeom) float64 {
	return g.Flops()
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

// BenchmarkConv3dGrad times the backward-data and the backward-filter op
// apart, at every shape of BenchmarkConv3dBackward, and reports GFLOP/s
// and GFLOP per CPU second (VIDSSL_CONV=vol2col for the paths before
// implicit GEMM).
func BenchmarkConv3dGrad(b *testing.B) {
	for _, what := range []string{"data", "filter"} {
		for _, s := range append(convBenchShapes, smallConvBenchShapes...) {
			b.Run(what+"/"+s.name, func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 1))
				x, w := randTensor(rng, 0, s.x...), randTensor(rng, 0, s.w...)
				geo, err := newConvGeom(s.name, s.x, s.w, nil, false, s.stride, s.pad)
				if err != nil {
					b.Fatal(err)
				}
				dy := randTensor(rng, 0, geo.yShape()...)
				data := &conv3dDataGradOp{opBase: opBase{name: s.name}, geo: geo}
				filter := &conv3dFilterGradOp{opBase: opBase{name: s.name}, geo: geo}
				run := func() {
					var err error
					if what == "data" {
						_, err = data.Do(w, dy)
					} else {
						_, err = filter.Do(x, dy)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				run()
				b.ResetTimer()
				cpu0 := cpuSeconds()
				for b.Loop() {
					run()
				}
				reportFlops(b, convFlops(&geo)*float64(b.N), cpu0)
			})
		}
	}
}
