package resnet3d

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/vidssl/vidssl/nn"
)

// smallStepShapes are the training steps of the example's quick and demo
// presets, the width-8 R3D with one block per stage on 48x48 frames:
// pretraining's 32 pairs of 4-frame clips (64 clips; the projection head and
// NT-Xent, which the benchmark replaces by the classifier's fc and
// BCEWithLogits, are a negligible share of the step) and fine-tuning's
// batches of finetune.SmallConfig's 16 8-frame clips.
var smallStepShapes = []struct {
	name       string
	n, t, h, w int
}{
	{"pretrain-64x4x48x48", 64, 4, 48, 48},
	{"finetune-16x8x48x48", 16, 8, 48, 48},
}

// BenchmarkSmallStep times one training step (forward, BCEWithLogits,
// backward, Adam) of the example's width-8 network at the shapes of
// smallStepShapes and reports clips per second and CPU seconds per step,
// which moves less than wall time with the load of a shared machine.
//
//	go test -run - -bench SmallStep -benchtime 20x ./resnet3d/
func BenchmarkSmallStep(b *testing.B) {
	for _, s := range smallStepShapes {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			m, err := New(Config{InChannels: 3, Width: 8, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 1}, rng)
			if err != nil {
				b.Fatal(err)
			}
			tr, x, y, err := NewClassifierTrainer(m, s.n, s.t, s.h, s.w, 1, nn.NewAdam(1e-3), rng)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			data := make([]float32, s.n*3*s.t*s.h*s.w)
			for i := range data {
				data[i] = rng.Float32()
			}
			labels := make([]float32, s.n)
			for i := range labels {
				labels[i] = float32(i % 2)
			}
			step := func() {
				if _, err := tr.Run(context.Background(), nn.Feed{Node: x, Data: data}, nn.Feed{Node: y, Data: labels}); err != nil {
					b.Fatal(err)
				}
			}
			step() // warm-up: scratch buffers, optimiser state
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for b.Loop() {
				step()
			}
			b.ReportMetric(float64(s.n*b.N)/b.Elapsed().Seconds(), "clips/s")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(cpu/float64(b.N), "cpu-s/step")
			}
		})
	}
}
