package pretrain

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/internal/tensorcmp"
	"github.com/vidssl/vidssl/internal/testmodel"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video"
)

// stepTol are the tolerances of compareStep, as relative L2 errors
// ||got - want|| / ||want|| per tensor (the loss and its parts
// elementwise). Whole-step results are compared per tensor rather than per
// element: two float32 implementations of a ReLU network differ in the
// last bits of forward values, so the odd element on a ReLU kink takes the
// other subgradient, and sums that nearly cancel (a batch-norm bias's
// gradient) keep few correct digits.
type stepTol struct {
	loss   float64 // the loss, NT-Xent and frame order of each step
	grad   float64 // every gradient, against the CPU graph's
	update float64 // each parameter's change, against nn.Adam on the host fed the engine's gradients
	state  float64 // running statistics (against the CPU's) and Adam's moments (against the host's)
}

// hostStepTol are the host engine's tolerances: the engine runs the CUDA
// engine's code with plain-Go ops, so only summation order differs.
var hostStepTol = stepTol{loss: 1e-5, grad: 1e-4, update: 1e-5, state: 1e-5}

// cudaStepTol are a GPU's (gpu's gpuStepTol): losses within 1e-3;
// gradients and running statistics within 1e-2 of the CPU's (cuDNN's
// algorithms sum in other orders); updates and Adam moments within 1e-4 of
// a host Adam fed the GPU's gradients.
var cudaStepTol = stepTol{loss: 1e-3, grad: 1e-2, update: 1e-4, state: 1e-2}

// stepCase is one configuration of compareStep: edit changes tinyConfig's
// (MI-SimCLR+FO) config, n is the pairs of a batch and tt, hw a clip's
// frames and height and width.
type stepCase struct {
	name      string
	edit      func(*Config)
	n, tt, hw int
}

// stepCases are the host engine's comparisons: MI-SimCLR+FO with masking,
// SimCLR without order head or masking, one pair per step (NT-Xent has no
// negatives and its loss is 0, but the step is valid and the frame-order
// loss still trains), an R(2+1)D encoder, and an encoder of the caller's
// (testmodel.Net of 32 features through Config.NewEncoder; with 8 the
// projections of these tiny clips collapse and the heads' gradients are
// rounding noise).
var stepCases = []stepCase{
	{"MI-SimCLR+FO", nil, 4, 4, 20},
	{"SimCLR", func(c *Config) { *c = tinyConfig(SimCLR); c.MaskSameGroup = false }, 3, 4, 20},
	{"one pair", nil, 1, 4, 20},
	{"R(2+1)D MI-SimCLR+FO", func(c *Config) {
		r21 := resnet3d.R2Plus1D18(0)
		r21.Width, r21.Blocks = c.Model.Width, c.Model.Blocks
		c.Model = r21
	}, 4, 4, 20},
	{"user encoder", func(c *Config) {
		c.NewEncoder = func(rng *rand.Rand) (Encoder, error) { return testmodel.New(rng.Uint64(), 3, 32), nil }
	}, 4, 4, 20},
}

// TestDeviceStepMatchesCPU: pretrain's training step on gpu's host engine
// (deviceStep: a gpu.ViewTrainer with the loss on the host, deviceLoss)
// against the same step as an nn graph on the CPU (cpuStep), two steps of
// each stepCase: the loss and its parts, frame-order hits, every gradient,
// the running statistics, and Adam's update and moments (see compareStep).
func TestDeviceStepMatchesCPU(t *testing.T) {
	for _, c := range stepCases {
		t.Run(c.name, func(t *testing.T) { compareStep(t, gpu.NewHostEngine(), c, hostStepTol) })
	}
}

// TestCUDAStepMatchesCPU is TestDeviceStepMatchesCPU on a GPU, with
// cudaStepTol: MI-SimCLR+FO steps of R3D-18 (3 pairs of 8 x 32 x 32 clips,
// groups 0, 0, 1) and SimCLR steps of the tiny encoder. It skips without a
// GPU; .gpu/check.sh runs it.
func TestCUDAStepMatchesCPU(t *testing.T) {
	e := openCUDA(t, gpu.CUDAOptions{})
	r3d := func(c *Config) { c.Model = resnet3d.R3D18(0) }
	compareStep(t, e, stepCase{"R3D-18 MI-SimCLR+FO", r3d, 3, 8, 32}, cudaStepTol)
	compareStep(t, e, stepCases[1], cudaStepTol)
}

// compareStep runs two training steps of c's model on e (deviceStep) and
// on the CPU (cpuStep), each from the engine's state (weights, statistics
// and Adam's), and compares the loss, NT-Xent, frame-order loss and hits
// with the CPU's, every gradient and running statistic with the CPU
// graph's, num_batches_tracked and Adam's step count exactly, and every
// parameter's change and Adam's moments with those of nn.Adam on the host
// fed the engine's gradients.
//
// Each step starts both sides from the engine's state because the two
// sides' updates cannot be compared directly: Adam's first update is about
// lr*sign(g), so a gradient element near zero, whose sign float32 rounding
// decides, moves its parameter by lr one way or the other.
func compareStep(t *testing.T, e *gpu.Engine, c stepCase, tol stepTol) {
	ctx := context.Background()
	cfg := tinyConfig(MISimCLRFO)
	cfg.Tau, cfg.OrderWeight = 0.5, 1.3
	if c.edit != nil {
		c.edit(&cfg)
	}
	const cw = 0.7 // NT-Xent's weight, as during a warm-up
	newAdam := func() *nn.Adam {
		a := nn.NewAdam(1e-3)
		a.WeightDecay = 1e-4
		return a
	}
	var models [3]*Model // CPU, engine, host Adam
	for i := range models {
		m, err := NewModel(cfg)
		if err != nil {
			t.Fatal(err)
		}
		models[i] = m
	}
	params := func(m *Model) []*nn.Param { return append(m.Encoder.Params(), m.heads()...) }
	byName := func(m *Model) map[string]*nn.Param {
		out := map[string]*nn.Param{}
		for _, p := range params(m) {
			out[p.Name] = p
		}
		return out
	}
	cpuParams, refParams := byName(models[0]), byName(models[2])
	rCPU := &runner{cfg: cfg, model: models[0], opt: newAdam()}
	cfg.Engine = e
	rDev := &runner{cfg: cfg, model: models[1], opt: newAdam()}
	cpu, dev := &cpuStep{r: rCPU}, &deviceStep{r: rDev}
	defer cpu.close()
	defer dev.close()

	rng := rand.New(rand.NewPCG(7, 8))
	shape := [5]int{c.n, 3, c.tt, c.hw, c.hw}
	view := func() *video.Batch {
		b := &video.Batch{Shape: shape, Data: make([]float32, c.n*3*c.tt*c.hw*c.hw)}
		for i := range b.Data {
			b.Data[i] = float32(rng.NormFloat64())
		}
		for i := range c.n {
			b.Groups = append(b.Groups, fmt.Sprint("study", i/2)) // pairs of pairs share a study
			if models[1].Order != nil {
				b.Labels = append(b.Labels, rng.IntN(models[1].Order.Classes()))
			}
		}
		return b
	}
	var wg, wu, ws tensorcmp.Worst
	for step := 1; step <= 2; step++ {
		// Start the CPU from the engine's state.
		before := map[string][]float32{}
		for _, p := range params(models[1]) {
			before[p.Name] = slices.Clone(p.Data())
			copy(cpuParams[p.Name].Data(), p.Data())
		}
		optBefore := rDev.opt.State()
		if step > 1 {
			if err := rCPU.opt.SetState(optBefore); err != nil {
				t.Fatal(err)
			}
		}
		v1, v2 := view(), view()
		want, err := cpu.step(ctx, v1, v2, cw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dev.step(ctx, v1, v2, cw)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []struct {
			name      string
			got, want float64
		}{{"loss", got.loss, want.loss}, {"NT-Xent", got.ntxent, want.ntxent}, {"order", got.order, want.order}} {
			if math.Abs(l.got-l.want) > tol.loss*math.Max(math.Abs(l.want), 1e-3) {
				t.Errorf("step %d %s: %v on %s, %v on the CPU", step, l.name, l.got, e.Name(), l.want)
			}
		}
		if got.hits != want.hits || got.samples != want.samples {
			t.Errorf("step %d: %d of %d order hits on %s, %d of %d on the CPU", step, got.hits, got.samples, e.Name(), want.hits, want.samples)
		}
		t.Logf("step %d: loss %.7f on the CPU, %.7f on %s (NT-Xent %.5f, order %.5f, %d order hits)", step, want.loss, got.loss, e.Name(), got.ntxent, got.order, got.hits)

		if err := dev.sync(); err != nil {
			t.Fatal(err)
		}
		grads, err := dev.tr.Gradients()
		if err != nil {
			t.Fatal(err)
		}
		prog := cpu.graph.prog
		gv := nn.GradValues(prog.Grads())
		if len(grads) != len(prog.Params()) {
			t.Fatalf("the CPU trains %d parameters, the engine %d", len(prog.Params()), len(grads))
		}
		var learn []*nn.Param
		var devGrads [][]float32
		for i, p := range prog.Params() {
			wg.Check(t, fmt.Sprintf("step %d gradient", step), p.Name, grads[p.Name], floatData(gv[i]), tol.grad)
			rp := refParams[p.Name]
			copy(rp.Data(), before[p.Name])
			learn, devGrads = append(learn, rp), append(devGrads, grads[p.Name])
		}
		for _, p := range params(models[1]) {
			cp := cpuParams[p.Name]
			switch {
			case strings.HasSuffix(p.Name, "num_batches_tracked"):
				if d := p.Data()[0]; d != cp.Data()[0] || d <= before[p.Name][0] {
					t.Errorf("step %d: %s = %v on the engine, %v on the CPU, %v before", step, p.Name, d, cp.Data()[0], before[p.Name][0])
				}
			case p.Buffer:
				ws.Check(t, fmt.Sprintf("step %d running statistic", step), p.Name, p.Data(), cp.Data(), tol.state)
			}
		}
		ref := newAdam()
		if step > 1 {
			if err := ref.SetState(optBefore); err != nil {
				t.Fatal(err)
			}
		}
		if err := ref.StepSlices(learn, devGrads); err != nil {
			t.Fatal(err)
		}
		devParams := byName(models[1])
		for _, rp := range learn {
			d := devParams[rp.Name].Data()
			ud, ur := make([]float32, len(d)), make([]float32, len(d))
			for i, v := range before[rp.Name] {
				ud[i], ur[i] = d[i]-v, rp.Data()[i]-v
			}
			wu.Check(t, fmt.Sprintf("step %d update of", step), rp.Name, ud, ur, tol.update)
		}
		stDev, stRef := rDev.opt.State(), ref.State()
		if len(stRef) != len(stDev) {
			t.Fatalf("Adam's state has %d entries on the engine, %d on the host", len(stDev), len(stRef))
		}
		for k, v := range stRef {
			if stDev[k] == nil {
				t.Errorf("step %d: no Adam %s on the engine", step, k)
				continue
			}
			if strings.HasSuffix(k, ".step") {
				if got := floatData(stDev[k]); got[0] != float32(step) {
					t.Errorf("step %d: Adam %s = %v", step, k, got[0])
				}
				continue
			}
			ws.Check(t, fmt.Sprintf("step %d Adam", step), k, floatData(stDev[k]), floatData(v), tol.state)
		}
	}
	t.Logf("largest relative L2 errors: gradient %.2g (%s), update %.2g (%s), state %.2g (%s)", wg.Err, wg.Name, wu.Err, wu.Name, ws.Err, ws.Name)
}

// floatData returns the float32 values of a tensor or a gorgonia value
// (one for a scalar).
func floatData(v interface{ Data() any }) []float32 {
	switch d := v.Data().(type) {
	case []float32:
		return d
	case float32:
		return []float32{d}
	}
	return nil
}
