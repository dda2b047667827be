package gpu

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidssl/vidssl/internal/gpubench"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// Tests that need an NVIDIA GPU. They skip, saying why, when CUDA cannot be
// used (no driver, no cuBLAS or cuDNN 9, no device). .gpu/check.sh runs them.

// TestCUDAOpenHere: on a machine without CUDA, opening fails with an error
// that says what is missing, and nothing panics.
func TestCUDAOpenHere(t *testing.T) {
	err := CUDAAvailable()
	if err == nil {
		e := requireCUDA(t)
		t.Logf("CUDA engine: %s", e.Name())
		return
	}
	if !strings.HasPrefix(err.Error(), "cuda: ") {
		t.Errorf("CUDAAvailable() = %v, want an error starting \"cuda: \"", err)
	}
	if _, err := OpenCUDA(CUDAOptions{}); err == nil {
		t.Error("OpenCUDA succeeded though CUDAAvailable failed")
	}
}

// TestCUDAOutOfMemory: an allocation the device cannot hold is an error
// that IsOutOfMemory recognises, after which the engine still works.
func TestCUDAOutOfMemory(t *testing.T) {
	e := requireCUDA(t)
	_, err := e.New(1 << 40) // 4 TiB
	if !IsOutOfMemory(err) || !strings.Contains(err.Error(), "CUDA_ERROR_OUT_OF_MEMORY") {
		t.Fatalf("New(2^40) = %v, want an out-of-memory error", err)
	}
	x := upload(t, e, []float32{-1, 2}, 2)
	if err := e.ReLU(x, x); err != nil {
		t.Fatal(err)
	}
	if got := host(t, e, x); got[0] != 0 || got[1] != 2 {
		t.Errorf("after the failure, relu = %v", got)
	}
}

// gpuStepTol are the tolerances of the GPU's training steps (see stepTol):
// losses within 1e-3; gradients and running statistics, per tensor in
// relative L2 norm, within 1e-2 of the CPU's; updates and Adam moments
// within 1e-4 of a host Adam fed the GPU's gradients. Measured on an H200
// (cuDNN 9.14, FMA math, algorithms by cudnnFind): losses within 2e-6, the
// worst gradient 6e-3 off (a BatchNorm bias whose gradient sums nearly
// cancel); a wiring error (a missing residual, a wrong learning rate or
// sign) gives errors near 1.
var gpuStepTol = stepTol{loss: 1e-3, grad: 1e-2, update: 1e-4, state: 1e-2}

// TestCUDATrainerMatchesCPU runs two R3D-18 training steps on the GPU and on
// the CPU (resnet3d.NewClassifierTrainer) from the same weights and data and
// compares losses, every gradient of the first step, the parameter changes,
// running statistics and Adam state (gpuStepTol).
func TestCUDATrainerMatchesCPU(t *testing.T) {
	e := requireCUDA(t)
	start := time.Now()
	compareWithCPU(t, e, resnet3d.R3D18(1), 2, 8, 32, 32, gpuStepTol)
	t.Logf("R3D-18 (2, 3, 8, 32, 32): two steps on the CPU and on %s in %v", e.Name(), time.Since(start))
}

// TestCUDAHeuristicTrainerMatchesCPU is TestCUDATrainerMatchesCPU with the
// convolution algorithms that cuDNN's heuristics choose instead of those
// cudnnFind times fastest.
func TestCUDAHeuristicTrainerMatchesCPU(t *testing.T) {
	requireCUDA(t)
	e, err := OpenCUDA(CUDAOptions{Heuristic: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	compareWithCPU(t, e, resnet3d.R3D18(1), 2, 8, 32, 32, gpuStepTol)
}

// TestCUDAGemmTrainerMatchesCPU is TestCUDATrainerMatchesCPU with the
// convolution algorithms restricted to the GEMM-like ones (no FFT or
// Winograd transforms), and logs the algorithms each engine chose: it tells
// how much of the gradients' difference from the CPU the transforms make.
func TestCUDAGemmTrainerMatchesCPU(t *testing.T) {
	shared := requireCUDA(t)
	e, err := OpenCUDA(CUDAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	gemm := [3][]int32{{0, 1, 2, 3}, {0, 1}, {0, 1, 3}} // forward, backward data, backward filter
	e.b.(*cudaBackend).allowAlgo = func(dir int, algo int32) bool { return slices.Contains(gemm[dir], algo) }
	compareWithCPU(t, e, resnet3d.R3D18(1), 2, 8, 32, 32, gpuStepTol)
	t.Logf("algorithms found (default): %s", chosenAlgos(shared))
	t.Logf("algorithms found (GEMM-like only): %s", chosenAlgos(e))
}

// chosenAlgos counts the convolution algorithms e has chosen, by direction.
func chosenAlgos(e *Engine) string {
	c, ok := e.b.(*cudaBackend)
	if !ok {
		return "(not a CUDA engine)"
	}
	var counts [3]map[int32]int
	for _, p := range c.convs {
		for dir, a := range p.chosen {
			if a == nil {
				continue
			}
			if counts[dir] == nil {
				counts[dir] = map[int32]int{}
			}
			counts[dir][a.algo]++
		}
	}
	var parts []string
	for dir, m := range counts {
		keys := slices.Sorted(maps.Keys(m))
		var s []string
		for _, k := range keys {
			s = append(s, fmt.Sprintf("algo %d x%d", k, m[k]))
		}
		parts = append(parts, dirNames[dir]+": "+strings.Join(s, ", "))
	}
	return strings.Join(parts, "; ")
}

// TestCUDATinyTrainerMatchesCPU is the same for the tiny model, whose odd
// shapes (1x1 planes, 2-value batch statistics) exercise cuDNN's corners.
func TestCUDATinyTrainerMatchesCPU(t *testing.T) {
	e := requireCUDA(t)
	compareWithCPU(t, e, tinyConfig, 3, 4, 20, 20, gpuStepTol)
}

// TestCUDAOtherArchitecturesMatchCPU: R(2+1)D-18 and MC3-18 training steps
// on the GPU, through the same generic plan as R3D, against the CPU graph;
// and a user-defined nn model (testmodel.Net, not from resnet3d).
func TestCUDAOtherArchitecturesMatchCPU(t *testing.T) {
	e := requireCUDA(t)
	for _, cfg := range []resnet3d.Config{resnet3d.R2Plus1D18(1), resnet3d.MC3_18(1)} {
		t.Run(cfg.Stem.String()+"/"+cfg.Convs[3].String(), func(t *testing.T) {
			compareWithCPU(t, e, cfg, 2, 8, 32, 32, gpuStepTol)
		})
	}
	t.Run("user model", func(t *testing.T) { compareUserModelWithCPU(t, e, gpuStepTol) })
}

// TestCUDAPredict: evaluation-mode logits of the tiny model and R3D-18 on
// the GPU, against the CPU's.
func TestCUDAPredict(t *testing.T) {
	e := requireCUDA(t)
	testPredict(t, e, tinyConfig, 1e-4)
	testPredict(t, e, resnet3d.R3D18(1), 1e-3)
}

// TestCUDAHeuristicAndTF32 runs a step with cuDNN's heuristics and with TF32
// allowed: the algorithms are usable and the loss is close to FP32's.
func TestCUDAHeuristicAndTF32(t *testing.T) {
	requireCUDA(t)
	ctx := context.Background()
	var losses []float32
	for _, opts := range []CUDAOptions{{}, {Heuristic: true}, {AllowTF32: true}} {
		e, err := OpenCUDA(opts)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := resnet3d.New(resnet3d.R3D18(1), rand.New(rand.NewPCG(1, 2)))
		tr, err := NewTrainer(e, m, [5]int{2, m.Config.InChannels, 8, 32, 32}, 1, nn.NewAdam(1e-4))
		if err != nil {
			t.Fatal(err)
		}
		x, y := batch(rand.New(rand.NewPCG(3, 4)), resnet3d.R3D18(1), 2, 8, 32, 32)
		loss, err := tr.Step(ctx, x, y)
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		losses = append(losses, loss)
		tr.Close()
		e.Close()
	}
	closeTo(t, "heuristic loss", losses[1:2], losses[:1], 1e-4)
	closeTo(t, "TF32 loss", losses[2:3], losses[:1], 2e-2)
}

// TestCUDATrainBenchmark measures R3D-18 training steps (16 x 112 x 112
// clips, BCEWithLogits, Adam, the batch uploaded from host memory every step)
// and prints a line
//
//	BENCH go device="..." batch=88 clips_per_s=... step_ms=...
//
// It runs only with VIDSSL_GPU_BENCH=1. VIDSSL_GPU_BENCH_BATCH (88) is the
// batch tried first (smaller ones after an out-of-memory failure),
// VIDSSL_GPU_BENCH_STEPS (10) the timed steps after 3 warm-up steps, and
// VIDSSL_GPU_BENCH_TF32=0 turns TF32 off (PyTorch's default is on).
func TestCUDATrainBenchmark(t *testing.T) {
	if os.Getenv("VIDSSL_GPU_BENCH") == "" {
		t.Skip("set VIDSSL_GPU_BENCH=1 to run the GPU benchmark")
	}
	requireCUDA(t)
	e, err := OpenCUDA(CUDAOptions{AllowTF32: os.Getenv("VIDSSL_GPU_BENCH_TF32") != "0"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	const tt, h, w = 16, 112, 112
	steps := gpubench.EnvInt("VIDSSL_GPU_BENCH_STEPS", 10)
	cfg := resnet3d.R3D18(1)
	m, err := resnet3d.New(cfg, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	n, el, loss := benchLargestFit(t, e, gpubench.EnvInt("VIDSSL_GPU_BENCH_BATCH", 88), steps, func(n int) (func() (float64, error), func(), error) {
		tr, err := NewTrainer(e, m, [5]int{n, m.Config.InChannels, tt, h, w}, 1.5, nn.NewAdam(1e-4))
		if err != nil {
			return nil, nil, err
		}
		x, y := batch(rand.New(rand.NewPCG(5, 6)), cfg, n, tt, h, w)
		step := func() (float64, error) {
			loss, err := tr.Step(ctx, x, y)
			return float64(loss), err
		}
		return step, func() { tr.Close() }, nil
	})
	fmt.Printf("BENCH go device=%q batch=%d clips_per_s=%.2f step_ms=%.1f loss=%.4f\n", e.Name(), n, float64(n*steps)/el, 1000*el/float64(steps), loss)
}

// benchLargestFit times the training steps of the largest batch that fits
// on e (gpubench.LargestFit): prepare makes a trainer for n and returns its
// step and its close. It returns the batch, the seconds of steps timed
// steps, and the last step's loss.
func benchLargestFit(t *testing.T, e *Engine, start, steps int, prepare func(n int) (step func() (float64, error), closeFn func(), err error)) (int, float64, float64) {
	t.Helper()
	n, sec, loss, err := gpubench.LargestFit(gpubench.Fit{OutOfMemory: IsOutOfMemory, Sync: e.Sync, Logf: t.Logf, Prepare: prepare}, start, steps)
	if err != nil {
		t.Fatal(err)
	}
	return n, sec, loss
}
