package gpu_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// ExampleNewTrainer trains a small R3D for a few steps on the GPU when there
// is one, else on the host reference engine, and copies the trained state
// back into the model.
func ExampleNewTrainer() {
	e, err := gpu.OpenCUDA(gpu.CUDAOptions{})
	if err != nil {
		e = gpu.NewHostEngine() // no GPU here: err says what is missing
	}
	defer e.Close()

	cfg := resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 1}
	model, err := resnet3d.New(cfg, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	const n, t, h, w = 4, 4, 24, 24
	adam := nn.NewAdam(1e-2)
	tr, err := gpu.NewTrainer(e, model, [5]int{n, model.Config.InChannels, t, h, w}, 1, adam)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()

	// Two clips of each class: positives are brighter.
	rng := rand.New(rand.NewPCG(3, 4))
	clips := make([]float32, n*3*t*h*w)
	targets := []float32{0, 1, 0, 1}
	per := len(clips) / n
	for i := range clips {
		clips[i] = float32(rng.NormFloat64()) + targets[i/per]
	}
	var first, last float32
	for step := range 20 {
		loss, err := tr.Step(context.Background(), clips, targets)
		if err != nil {
			fmt.Println(err)
			return
		}
		if step == 0 {
			first = loss
		}
		last = loss
	}
	if err := tr.SyncToHost(); err != nil {
		fmt.Println(err)
		return
	}
	state, _ := nn.StateDict(model)
	fmt.Println("loss fell:", last < first)
	fmt.Println("batches tracked:", state["stem.1.num_batches_tracked"].Data()[0])
	// Output:
	// loss fell: true
	// batches tracked: 20
}

// ExampleNewTrainer_userModel trains a 3-D CNN defined with nn's layers
// (no resnet3d) on the host reference engine: the engine runs any model
// built from nn's layers, compiled from its traced graph.
func ExampleNewTrainer_userModel() {
	rng := rand.New(rand.NewPCG(1, 2))
	model := nn.NewSequential(
		nn.NewConv3dLayer("features.0", 1, 4, [3]int{3, 3, 3}, [3]int{1, 2, 2}, [3]int{1, 1, 1}, false, rng),
		nn.NewBatchNorm3dLayer("features.1", 4),
		nn.ReLULayer{},
		&nn.GlobalAvgPool3dLayer{Name: "pool"},
		nn.FlattenLayer{},
		nn.NewLinearLayer("classifier", 4, 1, true, rng),
	)
	e := gpu.NewHostEngine()
	defer e.Close()
	tr, err := gpu.NewTrainer(e, model, [5]int{4, 1, 4, 8, 8}, 1, nn.NewAdam(1e-2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	clips := make([]float32, 4*4*8*8)
	targets := []float32{0, 1, 0, 1}
	for i := range clips {
		clips[i] = float32(rng.NormFloat64()) + 2*targets[i/(4*8*8)]
	}
	var losses []float32
	for range 10 {
		loss, err := tr.Step(context.Background(), clips, targets)
		if err != nil {
			fmt.Println(err)
			return
		}
		losses = append(losses, loss)
	}
	fmt.Println("loss fell:", losses[9] < losses[0])
	// Output:
	// loss fell: true
}

// ExampleNewTrainer_sgd trains a small 3-D CNN with SGD (Nesterov momentum
// and weight decay) instead of Adam on the host reference engine, and syncs
// the momentum buffers back into the nn.SGD, where a checkpoint saves them
// (nn.SaveCheckpoint of opt.State()) and a later trainer resumes from them.
func ExampleNewTrainer_sgd() {
	rng := rand.New(rand.NewPCG(1, 2))
	model := nn.NewSequential(
		nn.NewConv3dLayer("features.0", 1, 4, [3]int{3, 3, 3}, [3]int{1, 2, 2}, [3]int{1, 1, 1}, false, rng),
		nn.NewBatchNorm3dLayer("features.1", 4),
		nn.ReLULayer{},
		&nn.GlobalAvgPool3dLayer{Name: "pool"},
		nn.FlattenLayer{},
		nn.NewLinearLayer("classifier", 4, 1, true, rng),
	)
	e := gpu.NewHostEngine()
	defer e.Close()
	opt := &nn.SGD{LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4, Nesterov: true}
	tr, err := gpu.NewTrainer(e, model, [5]int{4, 1, 4, 8, 8}, 1, opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	clips := make([]float32, 4*4*8*8)
	targets := []float32{0, 1, 0, 1}
	for i := range clips {
		clips[i] = float32(rng.NormFloat64()) + 2*targets[i/(4*8*8)]
	}
	var losses []float32
	for range 10 {
		loss, err := tr.Step(context.Background(), clips, targets)
		if err != nil {
			fmt.Println(err)
			return
		}
		losses = append(losses, loss)
	}
	if err := tr.SyncToHost(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("loss fell:", losses[9] < losses[0])
	fmt.Println("momentum buffers:", len(opt.State()))
	// Output:
	// loss fell: true
	// momentum buffers: 5
}

// ExampleNewPredictor computes the pooled features of a small R(2+1)D
// encoder (no fc) in evaluation mode, 2 clips at a time, without an
// optimiser or gradients.
func ExampleNewPredictor() {
	cfg := resnet3d.R2Plus1D18(0)
	cfg.Width, cfg.Blocks = 4, [4]int{1, 1, 1, 1}
	model, err := resnet3d.New(cfg, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	e := gpu.NewHostEngine()
	defer e.Close()
	pr, err := gpu.NewPredictor(e, model, [5]int{2, 3, 4, 16, 16})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pr.Close()
	clips := make([]float32, 5*3*4*16*16) // 5 clips
	features := make([]float32, 5*pr.OutputLen())
	if err := pr.Predict(context.Background(), clips, features); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("features per clip:", pr.OutputLen())
	// Output:
	// features per clip: 32
}

// ExampleNewViewTrainer trains a small R(2+1)D encoder and a linear head
// on two views of each clip on the host engine: both views go through the
// model on the engine, and the loss and its gradients are computed on the
// host from the two views' outputs. Here the loss pulls each clip's two
// outputs together, ||z1 - z2||^2 / 2 per clip; pretrain's step computes
// NT-Xent and the frame-order loss the same way (pretrain.Run with
// Config.Engine).
func ExampleNewViewTrainer() {
	rng := rand.New(rand.NewPCG(1, 2))
	cfg := resnet3d.R2Plus1D18(0) // no fc: the encoder outputs features
	cfg.Width, cfg.Blocks = 4, [4]int{1, 1, 1, 1}
	encoder, err := resnet3d.New(cfg, rng)
	if err != nil {
		fmt.Println(err)
		return
	}
	head := nn.NewLinearLayer("head", cfg.FeatureDim(), 8, false, rng)
	e := gpu.NewHostEngine()
	defer e.Close()
	model := gpu.MultiHead{Trunk: encoder, Heads: []nn.Module{head}}
	tr, err := gpu.NewViewTrainer(e, model, [5]int{4, 3, 4, 16, 16}, 2, nn.NewAdam(1e-2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	v1, v2 := make([]float32, 4*3*4*16*16), make([]float32, 4*3*4*16*16)
	for i := range v1 {
		v1[i] = float32(rng.NormFloat64())
		v2[i] = v1[i] + 0.5*float32(rng.NormFloat64())
	}
	var loss float64
	agree := func(o *gpu.Outputs) error {
		// Output 0 (the only head) of view 1 and view 2: (4, 8).
		z1, z2 := o.Values[0][0], o.Values[1][0]
		loss = 0
		for i := range z1 {
			d := z1[i] - z2[i]
			loss += float64(d*d) / 2 / float64(o.Rows)
			o.Grads[0][0][i], o.Grads[1][0][i] = d/float32(o.Rows), -d/float32(o.Rows)
		}
		return nil
	}
	var losses []float64
	for range 5 {
		if err := tr.Step(context.Background(), [][]float32{v1, v2}, agree); err != nil {
			fmt.Println(err)
			return
		}
		losses = append(losses, loss)
	}
	fmt.Println("loss fell:", losses[4] < losses[0])
	// Output:
	// loss fell: true
}

// ExampleEngine_SGD applies two steps of SGD with Nesterov momentum and
// weight decay to a parameter tensor on the host engine, as nn.SGD would on
// the CPU; the first step (First) sets the momentum buffer.
func ExampleEngine_SGD() {
	e := gpu.NewHostEngine()
	defer e.Close()
	p, err := e.FromHost([]float32{1, -2, 0.5}, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	g, _ := e.FromHost([]float32{0.5, 0.25, -1}, 3)
	buf, _ := e.New(3)
	s := gpu.SGDStep{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01, Nesterov: true, First: true}
	for range 2 {
		if err := e.SGD(p, g, buf, s); err != nil {
			fmt.Println(err)
			return
		}
		s.First = false
	}
	got, _ := e.ToHost(p)
	fmt.Printf("%.4f\n", got)
	// Output: [0.7651 -2.1059 0.9583]
}
