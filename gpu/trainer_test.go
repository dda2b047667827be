package gpu

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/tensorcmp"
	"github.com/vidssl/vidssl/internal/vec"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// tinyConfig is a small R3D for CPU tests: every structural element of
// R3D-18 (stem, strided blocks with downsample, fc) at width 4, one block per
// stage.
var tinyConfig = resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 1}

// batch returns a random batch of n clips and 0/1 targets.
func batch(rng *rand.Rand, cfg resnet3d.Config, n, t, h, w int) ([]float32, []float32) {
	x := randSlice(rng, n*cfg.InChannels*t*h*w, 1)
	y := make([]float32, n)
	for i := range y {
		y[i] = float32(i % 2)
	}
	return x, y
}

// stepTol are the tolerances of compareWithCPU, as relative L2 errors
// ||got - want|| / ||want|| per tensor. Whole-step results are compared per
// tensor rather than per element: two float32 implementations of a ReLU
// network differ in the last bits of forward values, so the odd element
// that sits on a ReLU kink takes the other subgradient, and sums that nearly
// cancel (a BatchNorm bias's gradient) keep few correct digits.
type stepTol struct {
	loss   float64 // each step's loss (elementwise relative)
	grad   float64 // every gradient, against the CPU's
	update float64 // each parameter's change, against the optimiser on the host fed the engine's gradients
	state  float64 // running statistics (against the CPU's) and the optimiser's state (against the host's)
	// newOpt makes the optimiser of each side (CPU, engine, host
	// reference); nil is harnessAdam.
	newOpt func() nn.Optimizer
}

// compareWithCPU trains two copies of a model for two steps, one with
// resnet3d.NewClassifierTrainer on the CPU and one with a Trainer on e, and
// after each compares the loss, every gradient and the running statistics
// with the CPU's, and every parameter's change and the Adam moments with
// those of nn.Adam on the host fed the engine's own gradients (all through
// SyncToHost); num_batches_tracked and Adam's step count exactly.
//
// Each step starts both sides from the engine's state. Comparing the
// updates of two implementations, or their states after a step, would not
// work: Adam's first update is about lr*sign(g), so a gradient element near
// zero, whose sign float32 rounding decides, moves its parameter by lr one
// way or the other (measured on an H200: one BatchNorm bias channel of
// R3D-18 flipped, a 0.25 relative error in that tensor's update, and step 2's
// loss moved by 3e-3).
func compareWithCPU(t *testing.T, e *Engine, cfg resnet3d.Config, n, tt, h, w int, tol stepTol) {
	t.Helper()
	var models [3]nn.Module
	for i := range models {
		m, err := resnet3d.New(cfg, rand.New(rand.NewPCG(5, 6)))
		if err != nil {
			t.Fatal(err)
		}
		models[i] = m
	}
	compareModelWithCPU(t, e, models, [5]int{n, cfg.InChannels, tt, h, w}, tol)
}

// compareModelWithCPU is compareWithCPU for any three copies of a model
// (CPU, engine, host optimiser) with one logit per clip, on batches of the
// given shape: the CPU side is the graph resnet3d.NewClassifierTrainer
// builds (forward, BCEWithLogits with pos_weight 1.7, the optimiser of
// tol.newOpt).
func compareModelWithCPU(t *testing.T, e *Engine, models [3]nn.Module, shape [5]int, tol stepTol) {
	t.Helper()
	ctx := context.Background()
	hs := newStepHarness(t, tol, models[0].Params(), models[1].Params(), models[2].Params())
	const pw = 1.7
	n := shape[0]
	g := nn.NewGraph(true, nil)
	xn, yn := g.Input("x", shape[:]...), g.Input("y", n)
	logits, err := models[0].Forward(g, xn)
	if err == nil {
		logits, err = nn.Reshape(logits, n)
	}
	var loss *G.Node
	if err == nil {
		loss, err = nn.BCEWithLogits(logits, yn, pw)
	}
	var prog *nn.Program
	if err == nil {
		prog, err = nn.NewTrainer(g, loss, hs.optCPU)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	tr, err := NewTrainer(e, models[1], shape, pw, hs.optDev)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	for step := 1; step <= 2; step++ {
		hs.start(step)
		x := randSlice(rng, numel(shape[:]), 1)
		y := make([]float32, n)
		for i := range y {
			y[i] = float32(i % 2)
		}
		lossCPU, err := prog.Run(ctx, nn.Feed{Node: xn, Data: x}, nn.Feed{Node: yn, Data: y})
		if err != nil {
			t.Fatal(err)
		}
		lossDev, err := tr.Step(ctx, x, y)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, fmt.Sprintf("step %d loss", step), []float32{lossDev}, []float32{lossCPU}, tol.loss)
		t.Logf("step %d: loss %.7f on the CPU, %.7f on %s", step, lossCPU, lossDev, e.Name())
		hs.check(step, tr.net, prog)
	}
	hs.log()
}

// stepHarness is compareWithCPU's protocol for a CPU program and an engine
// trainer over models of the same parameters (cpu, dev) and a third copy
// (ref) for the host optimiser.
type stepHarness struct {
	t                    *testing.T
	tol                  stepTol
	newOpt               func() nn.Optimizer
	cpu, dev             []*nn.Param
	cpuByName, refByName map[string]*nn.Param
	optCPU, optDev       nn.Optimizer
	before               map[string][]float32
	optBefore            map[string]*tensor.Dense
	wg, wu, ws           tensorcmp.Worst
}

func harnessAdam() nn.Optimizer {
	a := nn.NewAdam(1e-3)
	a.WeightDecay = 1e-4
	return a
}

func newStepHarness(t *testing.T, tol stepTol, cpu, dev, ref []*nn.Param) *stepHarness {
	byName := func(ps []*nn.Param) map[string]*nn.Param {
		out := map[string]*nn.Param{}
		for _, p := range ps {
			out[p.Name] = p
		}
		return out
	}
	newOpt := tol.newOpt
	if newOpt == nil {
		newOpt = harnessAdam
	}
	return &stepHarness{t: t, tol: tol, newOpt: newOpt, cpu: cpu, dev: dev, cpuByName: byName(cpu), refByName: byName(ref), optCPU: newOpt(), optDev: newOpt()}
}

// start copies the engine's state (weights, statistics, optimiser) to the
// CPU.
func (hs *stepHarness) start(step int) {
	hs.before = map[string][]float32{}
	for _, p := range hs.dev {
		hs.before[p.Name] = slices.Clone(p.Data())
		copy(hs.cpuByName[p.Name].Data(), p.Data())
	}
	hs.optBefore = hs.optDev.State()
	if step > 1 {
		if err := hs.optCPU.SetState(hs.optBefore); err != nil {
			hs.t.Fatal(err)
		}
	}
}

// check compares the step just run by prog and by the engine's trainer nt.
func (hs *stepHarness) check(step int, nt *net, prog *nn.Program) {
	t, tol := hs.t, hs.tol
	t.Helper()
	if err := nt.SyncToHost(); err != nil {
		t.Fatal(err)
	}
	dev := map[string][]float32{}
	for _, p := range hs.dev {
		dev[p.Name] = p.Data()
	}
	stDev := hs.optDev.State()
	grads, err := nt.Gradients()
	if err != nil {
		t.Fatal(err)
	}
	gv := nn.GradValues(prog.Grads())
	var learn []*nn.Param
	var devGrads [][]float32
	for i, p := range prog.Params() {
		hs.wg.Check(t, fmt.Sprintf("step %d gradient", step), p.Name, grads[p.Name], values(t, gv[i]), tol.grad)
		rp := hs.refByName[p.Name]
		copy(rp.Data(), hs.before[p.Name])
		learn, devGrads = append(learn, rp), append(devGrads, grads[p.Name])
	}
	if len(learn) != len(nt.learn) {
		t.Fatalf("the CPU trains %d parameters, the engine %d", len(learn), len(nt.learn))
	}
	for _, p := range hs.cpu {
		d := dev[p.Name]
		switch {
		case strings.HasSuffix(p.Name, "num_batches_tracked"):
			if d[0] != p.Data()[0] || d[0] <= hs.before[p.Name][0] {
				t.Errorf("step %d: %s = %v on the engine, %v on the CPU, %v before", step, p.Name, d[0], p.Data()[0], hs.before[p.Name][0])
			}
		case p.Buffer:
			hs.ws.Check(t, fmt.Sprintf("step %d running statistic", step), p.Name, d, p.Data(), tol.state)
		}
	}
	ref := hs.newOpt()
	if step > 1 {
		if err := ref.SetState(hs.optBefore); err != nil {
			t.Fatal(err)
		}
	}
	if err := ref.StepSlices(learn, devGrads); err != nil {
		t.Fatal(err)
	}
	for _, rp := range learn {
		d := dev[rp.Name]
		ud, ur := make([]float32, len(d)), make([]float32, len(d))
		for i, v := range hs.before[rp.Name] {
			ud[i], ur[i] = d[i]-v, rp.Data()[i]-v
		}
		hs.wu.Check(t, fmt.Sprintf("step %d update of", step), rp.Name, ud, ur, tol.update)
	}
	stRef := ref.State()
	if len(stRef) != len(stDev) {
		t.Fatalf("optimiser state has %d entries on the engine, %d on the host", len(stDev), len(stRef))
	}
	for k, v := range stRef {
		if strings.HasSuffix(k, ".step") {
			if got := values(t, stDev[k]); got[0] != float32(step) {
				t.Errorf("step %d: Adam %s = %v", step, k, got[0])
			}
			continue
		}
		hs.ws.Check(t, fmt.Sprintf("step %d optimiser", step), k, values(t, stDev[k]), values(t, v), tol.state)
	}
}

func (hs *stepHarness) log() {
	hs.t.Logf("largest relative L2 errors: gradient %.2g (%s), update %.2g (%s), state %.2g (%s)", hs.wg.Err, hs.wg.Name, hs.wu.Err, hs.wu.Name, hs.ws.Err, hs.ws.Name)
}

// TestTrainerMatchesCPU runs the step on the host engine, which shares every
// line of the trainer with the CUDA engine: the op schedule, scratch-buffer
// reuse, arena layout, Adam and the state round trip are checked against
// the gorgonia program.
func TestTrainerMatchesCPU(t *testing.T) {
	compareWithCPU(t, NewHostEngine(), tinyConfig, 3, 4, 20, 20, stepTol{loss: 1e-5, grad: 1e-5, update: 1e-5, state: 1e-5})
}

// harnessSGDs are SGD's settings for the stepHarness: momentum with
// dampening, Nesterov momentum, and plain gradient descent, each with weight
// decay.
var harnessSGDs = []struct {
	name string
	opt  func() nn.Optimizer
}{
	{"momentum", func() nn.Optimizer { return &nn.SGD{LR: 0.05, Momentum: 0.9, Dampening: 0.1, WeightDecay: 1e-4} }},
	{"nesterov", func() nn.Optimizer { return &nn.SGD{LR: 0.05, Momentum: 0.8, WeightDecay: 1e-4, Nesterov: true} }},
	{"plain", func() nn.Optimizer { return &nn.SGD{LR: 0.05, WeightDecay: 1e-4} }},
}

// TestTrainerMatchesCPUSGD is TestTrainerMatchesCPU with nn.SGD on both
// sides: two steps (the first sets the momentum buffers, the second decays
// them) match the CPU program's loss, gradients and running statistics, and
// the engine's update and momentum buffers are those of nn.SGD on the host
// fed the engine's gradients bit for bit (update tolerance 0).
func TestTrainerMatchesCPUSGD(t *testing.T) {
	for _, c := range harnessSGDs {
		t.Run(c.name, func(t *testing.T) {
			compareWithCPU(t, NewHostEngine(), tinyConfig, 3, 4, 20, 20, stepTol{loss: 1e-5, grad: 1e-5, update: 0, state: 1e-5, newOpt: c.opt})
		})
	}
}

// TestTrainerSGDFreeRunning: three steps of SGD with momentum, each side
// on its own state (unlike the stepHarness, which restarts the CPU from the
// engine every step: SGD's update is continuous in the gradient, so the two
// sides stay close), end with parameters, running statistics and momentum
// buffers within 1e-5 (relative L2) of the CPU program's with nn.SGD.
func TestTrainerSGDFreeRunning(t *testing.T) {
	ctx := context.Background()
	const n, tt, h, w = 3, 4, 20, 20
	newSGD := func() *nn.SGD { return &nn.SGD{LR: 0.05, Momentum: 0.9, Dampening: 0.1, WeightDecay: 1e-4} }
	mCPU, _ := resnet3d.New(tinyConfig, rand.New(rand.NewPCG(5, 6)))
	mDev, _ := resnet3d.New(tinyConfig, rand.New(rand.NewPCG(5, 6)))
	optCPU, optDev := newSGD(), newSGD()
	prog, xn, yn, err := resnet3d.NewClassifierTrainer(mCPU, n, tt, h, w, 1, optCPU, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	tr, err := NewTrainer(NewHostEngine(), mDev, [5]int{n, tinyConfig.InChannels, tt, h, w}, 1, optDev)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	for step := 1; step <= 3; step++ {
		x, y := batch(rng, tinyConfig, n, tt, h, w)
		lossCPU, err := prog.Run(ctx, nn.Feed{Node: xn, Data: x}, nn.Feed{Node: yn, Data: y})
		if err != nil {
			t.Fatal(err)
		}
		lossDev, err := tr.Step(ctx, x, y)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, fmt.Sprintf("step %d loss", step), []float32{lossDev}, []float32{lossCPU}, 1e-5)
	}
	if err := tr.SyncToHost(); err != nil {
		t.Fatal(err)
	}
	var ws tensorcmp.Worst
	for i, p := range mCPU.Params() {
		ws.Check(t, "after 3 steps", p.Name, mDev.Params()[i].Data(), p.Data(), 1e-5)
	}
	stCPU, stDev := optCPU.State(), optDev.State()
	if len(stCPU) == 0 || len(stCPU) != len(stDev) {
		t.Fatalf("%d momentum buffers on the CPU, %d synced from the engine", len(stCPU), len(stDev))
	}
	for k, v := range stCPU {
		ws.Check(t, "after 3 steps", k, values(t, stDev[k]), values(t, v), 1e-5)
	}
	t.Logf("largest relative L2 error after 3 steps: %.2g (%s)", ws.Err, ws.Name)
}

// TestTrainerResumes: a trainer made with an optimiser whose state a
// previous trainer synced back (Adam's moments and step, SGD's momentum
// buffers) continues from it: one step, SyncToHost and a new trainer's step
// leave the same parameters, running statistics and optimiser state as two
// steps of one trainer, bit for bit, with Adam at step 2 and
// num_batches_tracked 2.
func TestTrainerResumes(t *testing.T) {
	ctx := context.Background()
	const n, tt, h, w = 2, 4, 20, 20
	rng := rand.New(rand.NewPCG(3, 3))
	x, y := batch(rng, tinyConfig, n, tt, h, w)
	e := NewHostEngine()
	shape := [5]int{n, tinyConfig.InChannels, tt, h, w}
	run := func(newOpt func() nn.Optimizer, resume bool) (map[string]*tensor.Dense, map[string]*tensor.Dense) {
		m, _ := resnet3d.New(tinyConfig, rand.New(rand.NewPCG(1, 2)))
		opt := newOpt()
		tr, err := NewTrainer(e, m, shape, 1, opt)
		if err != nil {
			t.Fatal(err)
		}
		for step := 1; step <= 2; step++ {
			if step == 2 && resume {
				if err := tr.SyncToHost(); err != nil {
					t.Fatal(err)
				}
				tr.Close()
				if len(opt.State()) == 0 {
					t.Fatal("no optimiser state synced back after a step")
				}
				if tr, err = NewTrainer(e, m, shape, 1, opt); err != nil {
					t.Fatal(err)
				}
				if tr.optSteps != 1 {
					t.Errorf("resumed after %d optimiser steps, want 1", tr.optSteps)
				}
			}
			if _, err := tr.Step(ctx, x, y); err != nil {
				t.Fatal(err)
			}
		}
		if err := tr.SyncToHost(); err != nil {
			t.Fatal(err)
		}
		tr.Close()
		sd := map[string]*tensor.Dense{}
		for _, p := range m.Params() {
			sd[p.Name] = p.Value
		}
		return sd, opt.State()
	}
	for _, o := range []struct {
		name   string
		newOpt func() nn.Optimizer
	}{
		{"Adam", func() nn.Optimizer { return nn.NewAdam(1e-3) }},
		{"SGD", func() nn.Optimizer { return &nn.SGD{LR: 0.05, Momentum: 0.9, Dampening: 0.2, WeightDecay: 1e-3} }},
	} {
		t.Run(o.name, func(t *testing.T) {
			sd1, st1 := run(o.newOpt, false)
			sd2, st2 := run(o.newOpt, true)
			for _, c := range []struct {
				what       string
				one, other map[string]*tensor.Dense
			}{{"state dict", sd1, sd2}, {"optimiser state", st1, st2}} {
				if len(c.one) != len(c.other) || len(c.one) == 0 {
					t.Fatalf("%s: %d entries without resuming, %d with", c.what, len(c.one), len(c.other))
				}
				for k, v := range c.one {
					if c.other[k] == nil {
						t.Fatalf("%s: no %s after resuming", c.what, k)
					}
					sameBits(t, c.what+" "+k, values(t, c.other[k]), values(t, v))
				}
			}
			if s := st2["fc.weight.step"]; o.name == "Adam" && (s == nil || values(t, s)[0] != 2) {
				t.Errorf("Adam's fc.weight.step after two steps: %v", s)
			}
			if v := sd2["stem.1.num_batches_tracked"].Data().([]float32)[0]; v != 2 {
				t.Errorf("num_batches_tracked = %v, want 2", v)
			}
		})
	}
}

// TestTrainerOptimiserErrors: an optimiser the engine does not run, a nil
// one and SGD state that lacks a parameter are errors when the trainer is
// made.
func TestTrainerOptimiserErrors(t *testing.T) {
	e := NewHostEngine()
	m, _ := resnet3d.New(tinyConfig, rand.New(rand.NewPCG(1, 2)))
	shape := [5]int{2, tinyConfig.InChannels, 4, 20, 20}
	var nilSGD *nn.SGD
	partial := nn.NewSGD(0.1, 0.9)
	p := m.Params()[0]
	if err := partial.StepSlices([]*nn.Param{p}, [][]float32{make([]float32, len(p.Data()))}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opt  nn.Optimizer
		want string
	}{
		{"other optimiser", &otherOptimizer{}, "optimiser *gpu.otherOptimizer: the engine runs *nn.Adam and *nn.SGD"},
		{"nil SGD", nilSGD, "nil engine or optimiser"},
		{"nil Adam", (*nn.Adam)(nil), "nil engine or optimiser"},
		{"nil", nil, "nil engine or optimiser"},
		{"partial SGD state", partial, "the optimiser has state, but none for"},
	} {
		if _, err := NewTrainer(e, m, shape, 1, c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// otherOptimizer is an nn.Optimizer that the engine does not run.
type otherOptimizer struct{ nn.SGD }

// TestTrainerMatchesCPUOtherArchitectures: MC3, R(2+1)D (one block per
// stage, and R(2+1)D-18's two) and a Bottleneck ResNet at width 8, which
// the R3D-only device plan could not run, train through the generic plan
// and match the CPU graph's loss, every gradient, the running statistics
// and Adam's state. R(2+1)D's gradients get 1e-4 instead of 1e-5: its
// factored convolutions put batch norms of few channels (the stem's first
// has 5) in a deep chain, whose weight and bias gradients are sums that
// nearly cancel (measured: 3.4e-5 at R(2+1)D-18's depth, at step 2, for
// stem.1.bias; at width 4, 1.3e-4, agreeing to 4 digits).
func TestTrainerMatchesCPUOtherArchitectures(t *testing.T) {
	tiny := [4]int{1, 1, 1, 1}
	for _, c := range []struct {
		cfg    resnet3d.Config
		blocks [4]int
		grad   float64
	}{
		{resnet3d.MC3_18(1), tiny, 1e-5},
		{resnet3d.R2Plus1D18(1), tiny, 1e-4},
		{resnet3d.R2Plus1D18(1), resnet3d.R2Plus1D18(1).Blocks, 1e-4}, // R(2+1)D-18's depth
		{resnet3d.Config{InChannels: 3, NumClasses: 1, Block: resnet3d.Bottleneck}, tiny, 1e-5},
	} {
		cfg := c.cfg
		cfg.Width, cfg.Blocks = 8, c.blocks
		t.Run(fmt.Sprintf("%v/%v/%v/%v", cfg.Stem, cfg.Block, cfg.Convs[3], cfg.Blocks), func(t *testing.T) {
			compareWithCPU(t, NewHostEngine(), cfg, 3, 4, 20, 20, stepTol{loss: 1e-5, grad: c.grad, update: 1e-5, state: 1e-5})
		})
	}
}

func TestTrainerErrors(t *testing.T) {
	ctx := context.Background()
	e := NewHostEngine()
	m, _ := resnet3d.New(tinyConfig, rand.New(rand.NewPCG(1, 2)))
	opt := nn.NewAdam(1e-3)
	three := tinyConfig
	three.NumClasses = 3
	m3, _ := resnet3d.New(three, rand.New(rand.NewPCG(1, 2)))
	if _, err := NewTrainer(e, m3, [5]int{2, m3.Config.InChannels, 4, 20, 20}, 1, opt); err == nil || !strings.Contains(err.Error(), "output is [2 3], want (2, 1)") {
		t.Errorf("3-class model: %v", err)
	}
	if _, err := NewTrainer(e, m, [5]int{1, m.Config.InChannels, 1, 4, 4}, 1, opt); err == nil || !strings.Contains(err.Error(), "layer2.0.conv1.1: expected more than 1 value per channel when training, got input [1 8 1 1 1]") {
		t.Errorf("tiny input: %v", err)
	}
	tr, err := NewTrainer(e, m, [5]int{2, m.Config.InChannels, 4, 20, 20}, 1, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Step(ctx, make([]float32, 7), make([]float32, 2)); err == nil || !strings.Contains(err.Error(), "batch of 7 values") {
		t.Errorf("short batch: %v", err)
	}
	before := slices.Clone(m.Params()[0].Data())
	x, y := batch(rand.New(rand.NewPCG(1, 1)), tinyConfig, 2, 4, 20, 20)
	x[5] = float32(math.NaN())
	if _, err := tr.Step(ctx, x, y); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN input: %v", err)
	}
	if err := tr.SyncToHost(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, m.Params()[0].Data()) {
		t.Error("a failed step changed the parameters")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tr.Step(cancelled, x, y); err != context.Canceled {
		t.Errorf("cancelled context: %v", err)
	}
	opt.LR = -1
	x[5] = 0
	if _, err := tr.Step(ctx, x, y); err == nil || !strings.Contains(err.Error(), "learning rate") {
		t.Errorf("bad learning rate: %v", err)
	}
}

// recorder is a backend that logs every compute op with its shapes.
type recorder struct {
	backend
	log []string
}

func (r *recorder) add(op string, ts ...*Tensor) {
	var parts []string
	for _, t := range ts {
		if t == nil {
			parts = append(parts, "nil")
			continue
		}
		parts = append(parts, fmt.Sprint(t.shape))
	}
	r.log = append(r.log, op+" "+strings.Join(parts, " "))
}

func (r *recorder) copy(dst, src *Tensor) error {
	r.add("copy", dst)
	return r.backend.copy(dst, src)
}

func (r *recorder) upload(dst *Tensor, src []float32) error {
	r.add("upload", dst)
	return r.backend.upload(dst, src)
}
func (r *recorder) download(dst []float32, src *Tensor) error {
	r.add("download", src)
	return r.backend.download(dst, src)
}
func (r *recorder) conv(x, w, y *Tensor, g convGeom) error {
	r.add(fmt.Sprintf("conv/s%v/p%v", g.stride, g.pad), x, w, y)
	return r.backend.conv(x, w, y, g)
}
func (r *recorder) convBackwardData(w, dy, dx *Tensor, g convGeom) error {
	r.add("convBackwardData", w, dy, dx)
	return r.backend.convBackwardData(w, dy, dx, g)
}
func (r *recorder) convBackwardFilter(x, dy, dw *Tensor, g convGeom) error {
	r.add("convBackwardFilter", x, dy, dw)
	return r.backend.convBackwardFilter(x, dy, dw, g)
}
func (r *recorder) bnTrain(x, y *Tensor, bn *BatchNorm) error {
	r.add("bnTrain", x, y)
	return r.backend.bnTrain(x, y, bn)
}
func (r *recorder) bnBackward(x, dy, dx, dw, db *Tensor, bn *BatchNorm) error {
	r.add("bnBackward", x, dy, dx)
	return r.backend.bnBackward(x, dy, dx, dw, db, bn)
}
func (r *recorder) relu(x, y *Tensor) error {
	r.add("relu", x)
	return r.backend.relu(x, y)
}
func (r *recorder) reluBackward(y, dy, dx *Tensor) error {
	r.add("reluBackward", y)
	return r.backend.reluBackward(y, dy, dx)
}
func (r *recorder) add2(op string, a, b, y *Tensor, relu bool) error {
	r.add(op, a)
	return r.backend.add(a, b, y, relu)
}
func (r *recorder) globalAvgPool(x, y *Tensor) error {
	r.add("globalAvgPool", x, y)
	return r.backend.globalAvgPool(x, y)
}
func (r *recorder) globalAvgPoolBackward(dy, dx *Tensor) error {
	r.add("globalAvgPoolBackward", dy, dx)
	return r.backend.globalAvgPoolBackward(dy, dx)
}
func (r *recorder) linear(x, w, b, y *Tensor) error {
	r.add("linear", x, w, b, y)
	return r.backend.linear(x, w, b, y)
}
func (r *recorder) linearBackward(x, w, dy, dx, dw, db *Tensor) error {
	r.add("linearBackward", x, w, dx)
	return r.backend.linearBackward(x, w, dy, dx, dw, db)
}
func (r *recorder) adam(p, g, m, v *Tensor, s vec.AdamCoeffs) error {
	r.add("adam", p)
	return r.backend.adam(p, g, m, v, s)
}
func (r *recorder) nonFinite(t *Tensor) (bool, error) {
	r.add("nonFinite", t)
	return r.backend.nonFinite(t)
}

// recorderAdd routes add through add2 so the log names AddReLU and Add apart.
type recorderAdd struct{ *recorder }

func (r recorderAdd) add(a, b, y *Tensor, relu bool) error {
	if relu {
		return r.add2("addReLU", a, b, y, relu)
	}
	return r.add2("add", a, b, y, relu)
}

// stepSchedule is the op schedule of one training step of tinyConfig on a
// batch (2, 3, 4, 20, 20): forward (conv, bn, relu per layer; the residual
// add+relu; pooling and fc), the logits to the host and the loss's
// gradient back, backward in the reverse of the traced order (so the
// downsample branch before the main branch of each block; its gradient
// shares the block's output gradient, with no copy), the finiteness check
// of all gradients and one Adam update of the whole parameter arena.
const stepSchedule = `upload [2 3 4 20 20]
conv/s[1 2 2]/p[1 3 3] [2 3 4 20 20] [4 3 3 7 7] [2 4 4 10 10]
bnTrain [2 4 4 10 10] [2 4 4 10 10]
relu [2 4 4 10 10]
conv/s[1 1 1]/p[1 1 1] [2 4 4 10 10] [4 4 3 3 3] [2 4 4 10 10]
bnTrain [2 4 4 10 10] [2 4 4 10 10]
relu [2 4 4 10 10]
conv/s[1 1 1]/p[1 1 1] [2 4 4 10 10] [4 4 3 3 3] [2 4 4 10 10]
bnTrain [2 4 4 10 10] [2 4 4 10 10]
addReLU [2 4 4 10 10]
conv/s[2 2 2]/p[1 1 1] [2 4 4 10 10] [8 4 3 3 3] [2 8 2 5 5]
bnTrain [2 8 2 5 5] [2 8 2 5 5]
relu [2 8 2 5 5]
conv/s[1 1 1]/p[1 1 1] [2 8 2 5 5] [8 8 3 3 3] [2 8 2 5 5]
bnTrain [2 8 2 5 5] [2 8 2 5 5]
conv/s[2 2 2]/p[0 0 0] [2 4 4 10 10] [8 4 1 1 1] [2 8 2 5 5]
bnTrain [2 8 2 5 5] [2 8 2 5 5]
addReLU [2 8 2 5 5]
conv/s[2 2 2]/p[1 1 1] [2 8 2 5 5] [16 8 3 3 3] [2 16 1 3 3]
bnTrain [2 16 1 3 3] [2 16 1 3 3]
relu [2 16 1 3 3]
conv/s[1 1 1]/p[1 1 1] [2 16 1 3 3] [16 16 3 3 3] [2 16 1 3 3]
bnTrain [2 16 1 3 3] [2 16 1 3 3]
conv/s[2 2 2]/p[0 0 0] [2 8 2 5 5] [16 8 1 1 1] [2 16 1 3 3]
bnTrain [2 16 1 3 3] [2 16 1 3 3]
addReLU [2 16 1 3 3]
conv/s[2 2 2]/p[1 1 1] [2 16 1 3 3] [32 16 3 3 3] [2 32 1 2 2]
bnTrain [2 32 1 2 2] [2 32 1 2 2]
relu [2 32 1 2 2]
conv/s[1 1 1]/p[1 1 1] [2 32 1 2 2] [32 32 3 3 3] [2 32 1 2 2]
bnTrain [2 32 1 2 2] [2 32 1 2 2]
conv/s[2 2 2]/p[0 0 0] [2 16 1 3 3] [32 16 1 1 1] [2 32 1 2 2]
bnTrain [2 32 1 2 2] [2 32 1 2 2]
addReLU [2 32 1 2 2]
globalAvgPool [2 32 1 2 2] [2 32]
linear [2 32] [1 32] [1] [2 1]
download [2 1]
upload [2 1]
linearBackward [2 32] [1 32] [2 32]
globalAvgPoolBackward [2 32] [2 32 1 2 2]
reluBackward [2 32 1 2 2]
bnBackward [2 32 1 2 2] [2 32 1 2 2] [2 32 1 2 2]
convBackwardFilter [2 16 1 3 3] [2 32 1 2 2] [32 16 1 1 1]
convBackwardData [32 16 1 1 1] [2 32 1 2 2] [2 16 1 3 3]
bnBackward [2 32 1 2 2] [2 32 1 2 2] [2 32 1 2 2]
convBackwardFilter [2 32 1 2 2] [2 32 1 2 2] [32 32 3 3 3]
convBackwardData [32 32 3 3 3] [2 32 1 2 2] [2 32 1 2 2]
reluBackward [2 32 1 2 2]
bnBackward [2 32 1 2 2] [2 32 1 2 2] [2 32 1 2 2]
convBackwardFilter [2 16 1 3 3] [2 32 1 2 2] [32 16 3 3 3]
convBackwardData [32 16 3 3 3] [2 32 1 2 2] [2 16 1 3 3]
add [2 16 1 3 3]
reluBackward [2 16 1 3 3]
bnBackward [2 16 1 3 3] [2 16 1 3 3] [2 16 1 3 3]
convBackwardFilter [2 8 2 5 5] [2 16 1 3 3] [16 8 1 1 1]
convBackwardData [16 8 1 1 1] [2 16 1 3 3] [2 8 2 5 5]
bnBackward [2 16 1 3 3] [2 16 1 3 3] [2 16 1 3 3]
convBackwardFilter [2 16 1 3 3] [2 16 1 3 3] [16 16 3 3 3]
convBackwardData [16 16 3 3 3] [2 16 1 3 3] [2 16 1 3 3]
reluBackward [2 16 1 3 3]
bnBackward [2 16 1 3 3] [2 16 1 3 3] [2 16 1 3 3]
convBackwardFilter [2 8 2 5 5] [2 16 1 3 3] [16 8 3 3 3]
convBackwardData [16 8 3 3 3] [2 16 1 3 3] [2 8 2 5 5]
add [2 8 2 5 5]
reluBackward [2 8 2 5 5]
bnBackward [2 8 2 5 5] [2 8 2 5 5] [2 8 2 5 5]
convBackwardFilter [2 4 4 10 10] [2 8 2 5 5] [8 4 1 1 1]
convBackwardData [8 4 1 1 1] [2 8 2 5 5] [2 4 4 10 10]
bnBackward [2 8 2 5 5] [2 8 2 5 5] [2 8 2 5 5]
convBackwardFilter [2 8 2 5 5] [2 8 2 5 5] [8 8 3 3 3]
convBackwardData [8 8 3 3 3] [2 8 2 5 5] [2 8 2 5 5]
reluBackward [2 8 2 5 5]
bnBackward [2 8 2 5 5] [2 8 2 5 5] [2 8 2 5 5]
convBackwardFilter [2 4 4 10 10] [2 8 2 5 5] [8 4 3 3 3]
convBackwardData [8 4 3 3 3] [2 8 2 5 5] [2 4 4 10 10]
add [2 4 4 10 10]
reluBackward [2 4 4 10 10]
bnBackward [2 4 4 10 10] [2 4 4 10 10] [2 4 4 10 10]
convBackwardFilter [2 4 4 10 10] [2 4 4 10 10] [4 4 3 3 3]
convBackwardData [4 4 3 3 3] [2 4 4 10 10] [2 4 4 10 10]
reluBackward [2 4 4 10 10]
bnBackward [2 4 4 10 10] [2 4 4 10 10] [2 4 4 10 10]
convBackwardFilter [2 4 4 10 10] [2 4 4 10 10] [4 4 3 3 3]
convBackwardData [4 4 3 3 3] [2 4 4 10 10] [2 4 4 10 10]
add [2 4 4 10 10]
reluBackward [2 4 4 10 10]
bnBackward [2 4 4 10 10] [2 4 4 10 10] [2 4 4 10 10]
convBackwardFilter [2 3 4 20 20] [2 4 4 10 10] [4 3 3 7 7]
nonFinite [PARAMS]
adam [PARAMS]`

// TestStepSchedule records the backend calls of one step of a tiny R3D.
func TestStepSchedule(t *testing.T) {
	rec := &recorder{backend: hostBackend{}}
	e := newEngine(recorderAdd{rec})
	m, _ := resnet3d.New(tinyConfig, rand.New(rand.NewPCG(1, 2)))
	tr, err := NewTrainer(e, m, [5]int{2, m.Config.InChannels, 4, 20, 20}, 1, nn.NewAdam(1e-3))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	x, y := batch(rand.New(rand.NewPCG(1, 1)), tinyConfig, 2, 4, 20, 20)
	rec.log = nil
	if _, err := tr.Step(context.Background(), x, y); err != nil {
		t.Fatal(err)
	}
	want := strings.ReplaceAll(stepSchedule, "[PARAMS]", fmt.Sprint(tr.pArena.shape))
	got := strings.Join(rec.log, "\n")
	if got != want {
		gl, wl := rec.log, strings.Split(want, "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("schedule differs at op %d: got %q, want %q\nwhole schedule:\n%s", i, g, w, got)
			}
		}
	}
}

// TestTrainerSmallerBatchesAndDropout: a trainer made for 3 clips trains on
// batches of 3, 2 and 1 clips with dropout on the logit, as CPU programs
// built for each batch size do with one optimiser, one model and one random
// stream (finetune's epochs end with a smaller batch).
func TestTrainerSmallerBatchesAndDropout(t *testing.T) {
	ctx := context.Background()
	const n, tt, h, w, p, pw = 3, 4, 20, 20, 0.5, 1.3
	mCPU, _ := resnet3d.New(tinyConfig, rand.New(rand.NewPCG(1, 2)))
	mDev, _ := resnet3d.New(tinyConfig, rand.New(rand.NewPCG(1, 2)))
	// Adam with a large eps is about SGD: Adam's usual first steps, about
	// lr*sign(g), would turn the last-bit differences of near-zero gradients
	// into lr-sized ones.
	optCPU, optDev := nn.NewAdam(0.3), nn.NewAdam(0.3)
	optCPU.Eps, optDev.Eps = 1, 1
	rngCPU := rand.New(rand.NewPCG(9, 9))
	progs := map[int]*nn.Program{}
	inputs := map[int][2]*G.Node{}
	for _, m := range []int{1, 2, 3} {
		g := nn.NewGraph(true, rngCPU)
		x, y := g.Input("x", m, 3, tt, h, w), g.Input("y", m)
		logits, err := mCPU.Forward(g, x)
		if err == nil {
			logits, err = nn.Reshape(logits, m)
		}
		if err == nil {
			logits, err = nn.Dropout(g, logits, p)
		}
		var loss *G.Node
		if err == nil {
			loss, err = nn.BCEWithLogits(logits, y, pw)
		}
		if err == nil {
			progs[m], err = nn.NewTrainer(g, loss, optCPU)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer progs[m].Close()
		inputs[m] = [2]*G.Node{x, y}
	}
	tr, err := NewTrainer(NewHostEngine(), mDev, [5]int{n, 3, tt, h, w}, pw, optDev)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.SetLogitDropout(p, rand.New(rand.NewPCG(9, 9))); err != nil {
		t.Fatal(err)
	}
	// The masks the steps draw: some logits are dropped, some kept.
	masks := rand.New(rand.NewPCG(9, 9))
	var dropped, kept int
	data := rand.New(rand.NewPCG(3, 4))
	for i, m := range []int{3, 2, 3, 1} {
		mask := make([]float32, m)
		nn.DropoutMask(masks, p, mask)
		for _, v := range mask {
			if v == 0 {
				dropped++
			} else {
				kept++
			}
		}
		x, y := batch(data, tinyConfig, m, tt, h, w)
		lossCPU, err := progs[m].Run(ctx, nn.Feed{Node: inputs[m][0], Data: x}, nn.Feed{Node: inputs[m][1], Data: y})
		if err != nil {
			t.Fatal(err)
		}
		lossDev, err := tr.Step(ctx, x, y)
		if err != nil {
			t.Fatalf("step %d (%d clips): %v", i+1, m, err)
		}
		closeTo(t, fmt.Sprintf("step %d (%d clips) loss", i+1, m), []float32{lossDev}, []float32{lossCPU}, 1e-5)
	}
	if dropped == 0 || kept == 0 {
		t.Fatalf("masks dropped %d and kept %d logits; the test needs both", dropped, kept)
	}
	if err := tr.SyncToHost(); err != nil {
		t.Fatal(err)
	}
	dev, _ := nn.StateDict(mDev)
	for _, q := range mCPU.Params() {
		if e := tensorcmp.RelL2(dev[q.Name].Data(), q.Data()); e > 1e-4 {
			t.Errorf("%s after 4 steps: relative error %.3g", q.Name, e)
		}
	}
	// Batches of no clips, more clips than the trainer holds, or a wrong
	// clip size are errors.
	for _, m := range []int{0, n + 1} {
		x, y := batch(data, tinyConfig, m, tt, h, w)
		if _, err := tr.Step(ctx, x, y); err == nil || !strings.Contains(err.Error(), "1 <= m <= 3") {
			t.Errorf("Step with %d clips: %v", m, err)
		}
	}
	if _, err := tr.Step(ctx, make([]float32, 10), []float32{1}); err == nil {
		t.Error("Step with a clip of 10 values succeeded")
	}
	if err := tr.SetLogitDropout(1, nil); err == nil {
		t.Error("SetLogitDropout(1) succeeded")
	}
}

// TestTrainerPredict: Predict gives the CPU's evaluation-mode logits (batch
// norm with running statistics) for more clips than the trainer holds, and
// changes no weight or statistic.
func TestTrainerPredict(t *testing.T) {
	testPredict(t, NewHostEngine(), tinyConfig, 1e-5)
}

// testPredict checks Predict on e: after three training steps, the logits
// of 7 clips, 3 at a time, within rtol of the CPU's.
func testPredict(t *testing.T, e *Engine, cfg resnet3d.Config, rtol float64) {
	ctx := context.Background()
	const n, tt, h, w, clips = 3, 4, 20, 20, 7
	m, _ := resnet3d.New(cfg, rand.New(rand.NewPCG(1, 2)))
	tr, err := NewTrainer(e, m, [5]int{n, m.Config.InChannels, tt, h, w}, 1, nn.NewAdam(1e-2))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	data := rand.New(rand.NewPCG(5, 5))
	for range 3 { // move the running statistics away from 0 and 1
		x, y := batch(data, cfg, n, tt, h, w)
		if _, err := tr.Step(ctx, x, y); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.SyncToHost(); err != nil {
		t.Fatal(err)
	}
	before, _ := nn.StateDict(m)
	snap := map[string][]float32{}
	for k, v := range before {
		snap[k] = slices.Clone(v.Data())
	}
	x, _ := batch(data, cfg, clips, tt, h, w)
	got := make([]float32, clips)
	if err := tr.Predict(ctx, x, got); err != nil {
		t.Fatal(err)
	}
	closeTo(t, "logits", got, cpuEval(t, m, x, clips, 3, tt, h, w), rtol)
	if err := tr.SyncToHost(); err != nil {
		t.Fatal(err)
	}
	after, _ := nn.StateDict(m)
	for k, v := range after {
		if !slices.Equal(v.Data(), snap[k]) {
			t.Errorf("Predict changed %s", k)
		}
	}
	if err := tr.Predict(ctx, x[:10], got[:1]); err == nil {
		t.Error("Predict with a short clip succeeded")
	}
}
