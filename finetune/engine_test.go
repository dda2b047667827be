package finetune

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/internal/testmodel"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// TestFineTuneOnEngine fine-tunes on gpu's host engine (the GPU trainer's
// code with plain-Go ops) and on the CPU from the same start: a sweep of
// two learning rates, dropout, and epochs of 9 videos in batches of 4, 4
// and 1. Every epoch's training and validation losses and the final weights
// agree to float32 rounding.
func TestFineTuneOnEngine(t *testing.T) {
	testFineTuneOn(t, gpu.NewHostEngine(), 1e-3, 1e-2, resnetModel)
}

// TestFineTuneUserModelOnEngine is TestFineTuneOnEngine with a model of
// the caller's (testmodel.Net, not from resnet3d): FineTune, Predict and
// Evaluate run any nn.Module, on the CPU and on an engine, with the same
// results.
func TestFineTuneUserModelOnEngine(t *testing.T) {
	testFineTuneOn(t, gpu.NewHostEngine(), 1e-3, 1e-2, func(t *testing.T, cfg Config) nn.Module {
		return testmodel.New(1, cfg.Model.InChannels, 1)
	})
}

// sgdConfig is an SGD with every setting the engine's kernel takes (bar
// dampening, which Nesterov rules out), for tests of the optimiser choice.
var sgdConfig = nn.OptimizerConfig{Kind: nn.OptimizerSGD, Momentum: 0.9, WeightDecay: 1e-4, Nesterov: true}

// TestFineTuneSGDOnEngine is TestFineTuneOnEngine with SGD (Nesterov
// momentum, weight decay) as Config.Optimizer, at learning rates of SGD's
// size: the engine's trainer and the CPU's programs agree.
func TestFineTuneSGDOnEngine(t *testing.T) {
	testFineTuneOn(t, gpu.NewHostEngine(), 1e-3, 1e-2, resnetModel, func(c *Config) {
		c.Optimizer = sgdConfig
		c.LRSweep = []float64{1e-2, 3e-2}
	})
}

// resnetModel returns NewModel's model for cfg.
func resnetModel(t *testing.T, cfg Config) nn.Module {
	model, _, err := NewModel(cfg, Init{})
	if err != nil {
		t.Fatal(err)
	}
	return model
}

// TestFineTuneOnCUDA is TestFineTuneOnEngine on a GPU, where cuDNN's
// float32 sums differ from the CPU's in the last bits; it skips without one.
func TestFineTuneOnCUDA(t *testing.T) {
	testFineTuneOn(t, openCUDA(t), 1e-2, 5e-2, resnetModel)
}

// TestFineTuneSGDOnCUDA is TestFineTuneSGDOnEngine on a GPU; it skips
// without one.
func TestFineTuneSGDOnCUDA(t *testing.T) {
	testFineTuneOn(t, openCUDA(t), 1e-2, 5e-2, resnetModel, func(c *Config) {
		c.Optimizer = sgdConfig
		c.LRSweep = []float64{1e-2, 3e-2}
	})
}

// openCUDA opens a CUDA engine, closed when the test ends, or skips the
// test, saying why, when there is no usable GPU.
func openCUDA(t *testing.T) *gpu.Engine {
	t.Helper()
	if err := gpu.CUDAAvailable(); err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	e, err := gpu.OpenCUDA(gpu.CUDAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// testFineTuneOn fine-tunes a model of newModel on e and another on the
// CPU and compares the losses (relative tolerance lossTol) and the final
// weights (relative L2 norm per tensor, weightTol); edits, if any, change
// the config first.
func testFineTuneOn(t *testing.T, e *gpu.Engine, lossTol, weightTol float64, newModel func(*testing.T, Config) nn.Module, edits ...func(*Config)) {
	train, val, test := synthData(t, 24, 12, 2)
	train.Records = train.Records[:9]
	cfg := tinyConfig()
	cfg.BatchSize = 4
	cfg.MaxEpochs = 2
	cfg.Patience = 0
	cfg.DropoutP = 0.25
	cfg.LRSweep = []float64{1e-3, 3e-3}
	for _, edit := range edits {
		edit(&cfg)
	}
	if testing.Short() {
		// One run of one epoch keeps -short -race within a minute.
		cfg.MaxEpochs = 1
		cfg.LRSweep = cfg.LRSweep[:1]
	}
	results := make([]*Result, 2)
	for i, eng := range []*gpu.Engine{nil, e} {
		cfg.Engine = eng
		var err error
		if results[i], err = FineTune(context.Background(), cfg, newModel(t, cfg), train, val, 0.05); err != nil {
			t.Fatal(err)
		}
	}
	cpu, dev := results[0], results[1]
	hc, hd := cpu.History(), dev.History()
	if len(hc) != cfg.MaxEpochs*len(cfg.LRSweep) || len(hd) != len(hc) || cpu.Chosen != dev.Chosen {
		t.Fatalf("CPU: %d epochs, run %d chosen; engine: %d epochs, run %d chosen", len(hc), cpu.Chosen, len(hd), dev.Chosen)
	}
	for i := range hc {
		t.Logf("lr %g epoch %d: train %.6f / %.6f, val %.6f / %.6f (CPU / %s)", hc[i].LR, hc[i].Epoch, hc[i].TrainLoss, hd[i].TrainLoss, hc[i].ValLoss, hd[i].ValLoss, e.Name())
		for _, l := range [][2]float64{{hc[i].TrainLoss, hd[i].TrainLoss}, {hc[i].ValLoss, hd[i].ValLoss}} {
			if math.Abs(l[0]-l[1]) > lossTol*math.Abs(l[0]) {
				t.Errorf("lr %g epoch %d: losses %v on the CPU, %v on the engine", hc[i].LR, hc[i].Epoch, l[0], l[1])
			}
		}
	}
	wc, wd := values(cpu.Model), values(dev.Model)
	for name, v := range wc {
		var num, den float64
		for j := range v {
			d := float64(v[j] - wd[name][j])
			num, den = num+d*d, den+float64(v[j])*float64(v[j])
		}
		if den > 0 && math.Sqrt(num/den) > weightTol {
			t.Errorf("%s: relative L2 difference %.3g between the CPU's and the engine's final weights", name, math.Sqrt(num/den))
		}
	}
	// Evaluation on the engine: the same probabilities as on the CPU.
	cfg.Engine = nil
	pc, err := Predict(context.Background(), cfg, dev.Model, test)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Engine = e
	pd, err := Predict(context.Background(), cfg, dev.Model, test)
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.Videos) != len(pd.Videos) || len(pc.Videos) == 0 {
		t.Fatalf("%d test videos predicted on the CPU, %d on the engine", len(pc.Videos), len(pd.Videos))
	}
	for i, v := range pc.Videos {
		if d := pd.Videos[i]; d.ID != v.ID || math.Abs(d.Prob-v.Prob) > lossTol {
			t.Errorf("video %s: probability %v on the CPU, %s %v on the engine", v.ID, v.Prob, d.ID, d.Prob)
		}
	}
}

// TestUserModelRejected: a model of the caller's that does not take the
// config's clips, or outputs more than one logit per clip, is an error
// that names the shapes, on the CPU and on an engine, before any graph
// runs (a panic in gorgonia's goroutines could not be recovered).
func TestUserModelRejected(t *testing.T) {
	train, val, test := synthData(t, 12, 10, 4)
	cfg := tinyConfig()
	cfg.MaxEpochs = 1
	for _, c := range []struct {
		name  string
		model nn.Module
		want  string
	}{
		{"two logits", testmodel.New(1, 3, 2), "outputs [8 2] for clips of shape [8 3 8 32 32], want (8, 1): one logit per clip"},
		{"one channel", testmodel.New(1, 1, 1), "does not take clips of shape [8 3 8 32 32] (Config.Model.InChannels = 3)"},
	} {
		for _, eng := range []*gpu.Engine{nil, gpu.NewHostEngine()} {
			cfg.Engine = eng
			where := c.name + " on the CPU"
			if eng != nil {
				where = c.name + " on " + eng.Name()
			}
			if _, err := FineTune(context.Background(), cfg, c.model, train, val, 1); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "step 1 of") {
				t.Errorf("%s: FineTune: %v, want an error at step 1 containing %q", where, err, c.want)
			}
			if _, err := Predict(context.Background(), cfg, c.model, test); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: Predict: %v, want an error containing %q", where, err, c.want)
			}
		}
	}
	for _, m := range []nn.Module{nil, (*testmodel.Net)(nil)} {
		if _, err := Predict(context.Background(), cfg, m, test); err == nil || !strings.Contains(err.Error(), "nil model") {
			t.Errorf("nil model %T: %v", m, err)
		}
		if _, err := FineTune(context.Background(), cfg, m, train, val, 1); err == nil || !strings.Contains(err.Error(), "nil model") {
			t.Errorf("nil model %T: FineTune: %v", m, err)
		}
	}
}

// TestUserModelConfig: with a model of the caller's, FineTune and Predict
// check of Config.Model only InChannels (what they use), so a Model that
// NewModel could not build is no error there; Validate, which NewModel
// runs, still checks all of it.
func TestUserModelConfig(t *testing.T) {
	ctx := context.Background()
	train, val, test := synthData(t, 12, 10, 4)
	cfg := tinyConfig()
	cfg.MaxEpochs = 1
	cfg.Model = resnet3d.Config{InChannels: 3} // no width, depth or classes
	model := testmodel.New(1, 3, 1)
	if _, err := FineTune(ctx, cfg, model, train, val, 1); err != nil {
		t.Errorf("FineTune: %v", err)
	}
	if _, err := Predict(ctx, cfg, model, test); err != nil {
		t.Errorf("Predict: %v", err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "Model.NumClasses = 0") {
		t.Errorf("Validate: %v, want the NumClasses error", err)
	}
	cfg.Model.InChannels = 2
	for what, err := range map[string]error{
		"FineTune": func() error { _, err := FineTune(ctx, cfg, model, train, val, 1); return err }(),
		"Predict":  func() error { _, err := Predict(ctx, cfg, model, test); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), "Model.InChannels = 2, want 1 or 3") {
			t.Errorf("%s with 2 channels: %v", what, err)
		}
	}
}
