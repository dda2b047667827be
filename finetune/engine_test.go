package finetune

import (
	"context"
	"math"
	"testing"

	"github.com/vidssl/vidssl/gpu"
)

// TestFineTuneOnEngine fine-tunes on gpu's host engine (the GPU trainer's
// code with plain-Go ops) and on the CPU from the same start: a sweep of
// two learning rates, dropout, and epochs of 9 videos in batches of 4, 4
// and 1. Every epoch's training and validation losses and the final weights
// agree to float32 rounding.
func TestFineTuneOnEngine(t *testing.T) {
	testFineTuneOn(t, gpu.NewHostEngine(), 1e-3, 1e-2)
}

// TestFineTuneOnCUDA is TestFineTuneOnEngine on a GPU, where cuDNN's
// float32 sums differ from the CPU's in the last bits; it skips without one.
func TestFineTuneOnCUDA(t *testing.T) {
	if err := gpu.CUDAAvailable(); err != nil {
		t.Skipf("no CUDA device: %v", err)
	}
	e, err := gpu.OpenCUDA(gpu.CUDAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	testFineTuneOn(t, e, 1e-2, 5e-2)
}

// testFineTuneOn fine-tunes on e and on the CPU and compares the losses
// (relative tolerance lossTol) and the final weights (relative L2 norm per
// tensor, weightTol).
func testFineTuneOn(t *testing.T, e *gpu.Engine, lossTol, weightTol float64) {
	train, val, test := synthData(t, 24, 12, 2)
	train.Records = train.Records[:9]
	cfg := tinyConfig()
	cfg.BatchSize = 4
	cfg.MaxEpochs = 2
	cfg.Patience = 0
	cfg.DropoutP = 0.25
	cfg.LRSweep = []float64{1e-3, 3e-3}
	if testing.Short() {
		// One run of one epoch keeps -short -race within a minute.
		cfg.MaxEpochs = 1
		cfg.LRSweep = cfg.LRSweep[:1]
	}
	results := make([]*Result, 2)
	for i, eng := range []*gpu.Engine{nil, e} {
		cfg.Engine = eng
		model, _, err := NewModel(cfg, Init{})
		if err != nil {
			t.Fatal(err)
		}
		if results[i], err = FineTune(context.Background(), cfg, model, train, val, 0.05); err != nil {
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
