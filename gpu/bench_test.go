package gpu

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// BenchmarkHostStep times one training step (forward, BCEWithLogits,
// backward, Adam) of R3D-18 on a batch of two 4-frame 56x56 clips two
// ways: the compiled plan on the host engine (NewTrainer on
// NewHostEngine) and nn's gorgonia graph (resnet3d.NewClassifierTrainer),
// which run the same convolution and batch-norm kernels.
//
//	go test -run - -bench HostStep -benchtime 3x ./gpu/
func BenchmarkHostStep(b *testing.B) {
	const n, t, h, w = 2, 4, 56, 56
	cfg := resnet3d.R3D18(1)
	rng := rand.New(rand.NewPCG(1, 2))
	x := randSlice(rng, n*cfg.InChannels*t*h*w, 1)
	y := make([]float32, n)
	for i := range y {
		y[i] = float32(i % 2)
	}
	model := func(b *testing.B) *resnet3d.Model {
		m, err := resnet3d.New(cfg, rand.New(rand.NewPCG(5, 6)))
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	run := func(b *testing.B, step func() error) {
		if err := step(); err != nil { // warm-up: scratch buffers, optimiser state
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			if err := step(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("plan", func(b *testing.B) {
		tr, err := NewTrainer(NewHostEngine(), model(b), [5]int{n, cfg.InChannels, t, h, w}, 1, nn.NewAdam(1e-3))
		if err != nil {
			b.Fatal(err)
		}
		defer tr.Close()
		run(b, func() error { _, err := tr.Step(context.Background(), x, y); return err })
	})
	b.Run("graph", func(b *testing.B) {
		prog, xn, yn, err := resnet3d.NewClassifierTrainer(model(b), n, t, h, w, 1, nn.NewAdam(1e-3), rand.New(rand.NewPCG(3, 4)))
		if err != nil {
			b.Fatal(err)
		}
		defer prog.Close()
		run(b, func() error {
			_, err := prog.Run(context.Background(), nn.Feed{Node: xn, Data: x}, nn.Feed{Node: yn, Data: y})
			return err
		})
	})
}
