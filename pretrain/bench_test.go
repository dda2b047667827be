package pretrain

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/internal/gpubench"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/video"
)

// TestCUDASSLBenchmark measures pretrain's MI-SimCLR+FO training step on a
// GPU (deviceStep: R3D-18 with the projection and frame-order heads of
// NewModel, two views of 4 x 112 x 112 clips, the paper's pretraining
// shape; NT-Xent with tau 0.05 and no masking, Adam; both views uploaded
// from host memory every step) and prints a line
//
//	BENCH go-ssl device="..." pairs=392 pairs_per_s=... step_ms=...
//
// It runs only with VIDSSL_GPU_BENCH=1 and a GPU; .gpu/check.sh runs it
// and .gpu/bench_ssl_torch.py at the same number of pairs.
// VIDSSL_GPU_BENCH_PAIRS (392, the paper's) is the number of pairs tried
// first (fewer after an out-of-memory failure), VIDSSL_GPU_BENCH_STEPS
// (10) the timed steps after gpubench.Warmup untimed ones, and
// VIDSSL_GPU_BENCH_TF32=0 turns TF32 off (PyTorch's default is on).
func TestCUDASSLBenchmark(t *testing.T) {
	if os.Getenv("VIDSSL_GPU_BENCH") == "" {
		t.Skip("set VIDSSL_GPU_BENCH=1 to run the GPU benchmark")
	}
	e := openCUDA(t, gpu.CUDAOptions{AllowTF32: os.Getenv("VIDSSL_GPU_BENCH_TF32") != "0"})
	cfg := PaperConfig(MISimCLRFO) // R3D-18, 4-frame clips, tau 0.05, weights 1:1
	cfg.MaskSameGroup = false      // as .gpu/bench_ssl_torch.py
	steps := gpubench.EnvInt("VIDSSL_GPU_BENCH_STEPS", 10)
	n, sec, loss := benchSSL(t, e, cfg, 112, 112, gpubench.EnvInt("VIDSSL_GPU_BENCH_PAIRS", 392), steps)
	fmt.Printf("BENCH go-ssl device=%q pairs=%d pairs_per_s=%.2f step_ms=%.1f loss=%.4f\n", e.Name(), n, float64(n*steps)/sec, 1000*sec/float64(steps), loss)
}

// benchView returns a view of n random clips of 3 x tt x h x w with frame
// order classes (i + shift) mod 24.
func benchView(rng *rand.Rand, n, tt, h, w, shift int) *video.Batch {
	b := &video.Batch{Shape: [5]int{n, 3, tt, h, w}, Data: make([]float32, n*3*tt*h*w), Labels: make([]int, n)}
	for i := range b.Data {
		b.Data[i] = 2*rng.Float32() - 1
	}
	for i := range b.Labels {
		b.Labels[i] = (i + shift) % 24
	}
	return b
}

// benchSSL times steps of pretrain's training step (deviceStep, NewModel's
// model of cfg, Adam with lr 1e-4) on e for the largest number of pairs,
// from start down, whose views of ClipLength x h x w fit, after
// gpubench.Warmup untimed steps; it returns the pairs, the seconds and the
// last loss.
func benchSSL(t *testing.T, e *gpu.Engine, cfg Config, h, w, start, steps int) (int, float64, float64) {
	t.Helper()
	ctx := context.Background()
	tt := cfg.ClipLength
	model, err := NewModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Engine = e
	n, sec, loss, err := gpubench.LargestFit(gpubench.Fit{
		OutOfMemory: gpu.IsOutOfMemory,
		Sync:        e.Sync,
		Logf:        t.Logf,
		Prepare: func(n int) (func() (float64, error), func(), error) {
			// The trainer is made, and the memory allocated, at the
			// first step: an out-of-memory failure shows in the warm-up.
			d := &deviceStep{r: &runner{cfg: cfg, model: model, opt: nn.NewAdam(1e-4)}}
			rng := rand.New(rand.NewPCG(5, 6))
			v1, v2 := benchView(rng, n, tt, h, w, 0), benchView(rng, n, tt, h, w, 7)
			step := func() (float64, error) {
				out, err := d.step(ctx, v1, v2, cfg.ContrastiveWeight)
				return out.loss, err
			}
			return step, d.close, nil
		},
	}, start, steps)
	if err != nil {
		t.Fatal(err)
	}
	return n, sec, loss
}

// TestSSLBenchmarkOnHost runs TestCUDASSLBenchmark's code on gpu's host
// engine with tinyConfig's model and 16 x 16 frames, so that it is known
// to work where no GPU is.
func TestSSLBenchmarkOnHost(t *testing.T) {
	cfg := tinyConfig(MISimCLRFO)
	cfg.MaskSameGroup = false
	n, sec, loss := benchSSL(t, gpu.NewHostEngine(), cfg, 16, 16, 3, 2)
	if n != 3 || !(sec > 0) || math.IsNaN(loss) || loss <= 0 {
		t.Errorf("3 pairs, 2 steps: %d pairs, %v s, loss %v", n, sec, loss)
	}
}
