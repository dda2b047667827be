package gpu

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/internal/testmodel"
	"github.com/vidssl/vidssl/nn"
)

// The self-supervised model and loss are pretrain's: pretrain's
// TestDeviceStepMatchesCPU compares its step on the host engine with its
// CPU graph. The tests here check the ViewTrainer's mechanisms with a
// minimal MultiHead (a testmodel.Net trunk and two linear heads) and a
// squared-error loss.

// newViewModel returns a testmodel.Net trunk of 8 features with two
// linear heads of 5 (with bias) and 3 (without) outputs; every call
// returns the same weights.
func newViewModel() MultiHead {
	rng := rand.New(rand.NewPCG(3, 4))
	return MultiHead{Trunk: testmodel.New(9, 3, 8), Heads: []nn.Module{
		nn.NewLinearLayer("head1", 8, 5, true, rng),
		nn.NewLinearLayer("head2", 8, 3, false, rng),
	}}
}

// squaredLoss is sum over views v and outputs i of ||out[v][i] -
// target[v][i]||^2 / 2, as a ViewTrainer's LossFunc: it returns the loss
// and writes out - target into the gradients.
func squaredLoss(target [][][]float32, loss *float64) LossFunc {
	return func(o *Outputs) error {
		*loss = 0
		for v := range o.Values {
			for i, val := range o.Values[v] {
				for j, x := range val {
					d := x - target[v][i][j]
					*loss += float64(d*d) / 2
					o.Grads[v][i][j] = d
				}
			}
		}
		if math.IsNaN(*loss) || math.IsInf(*loss, 0) {
			return fmt.Errorf("loss is %v", *loss)
		}
		return nil
	}
}

// compareViewsWithCPU trains three copies of newViewModel on two views of
// n clips of 3 x 4 x 8 x 8 for two steps, one as a gorgonia program on the
// CPU (both views through the same Params, squaredLoss as a graph) and
// one with a ViewTrainer on e, and compares them with the stepHarness:
// the loss, every gradient (summed over the views), the running statistics
// (updated once per view), and the optimiser's update and state.
func compareViewsWithCPU(t *testing.T, e *Engine, n int, tol stepTol) {
	ctx := context.Background()
	models := [3]MultiHead{newViewModel(), newViewModel(), newViewModel()}
	hs := newStepHarness(t, tol, models[0].params(), models[1].params(), models[2].params())
	shape := [5]int{n, 3, 4, 8, 8}
	sizes := []int{5, 3}

	g := nn.NewGraph(true, nil)
	var xs []*G.Node
	targets := make([][]*G.Node, 2)
	var loss *G.Node
	for v := range 2 {
		x := g.Input(fmt.Sprintf("x%d", v), shape[:]...)
		outs, err := models[0].forward(g, x)
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, x)
		for i, o := range outs {
			y := g.Input(fmt.Sprintf("y%d.%d", v, i), n, sizes[i])
			targets[v] = append(targets[v], y)
			d, err := G.Sub(o, y)
			if err == nil {
				d, err = G.Square(d)
			}
			if err == nil {
				d, err = G.Sum(d)
			}
			if err == nil {
				d, err = G.Mul(d, G.NewConstant(float32(0.5)))
			}
			if err == nil && loss != nil {
				d, err = G.Add(loss, d)
			}
			if err != nil {
				t.Fatal(err)
			}
			loss = d
		}
	}
	prog, err := nn.NewTrainer(g, loss, hs.optCPU)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	tr, err := NewViewTrainer(e, models[1], shape, 2, hs.optDev)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if !slices.Equal(tr.out.Sizes, sizes) {
		t.Fatalf("output sizes %v, want %v", tr.out.Sizes, sizes)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for step := 1; step <= 2; step++ {
		hs.start(step)
		var x [][]float32
		target := make([][][]float32, 2)
		var feeds []nn.Feed
		for v := range 2 {
			x = append(x, randSlice(rng, numel(shape[:]), 1))
			feeds = append(feeds, nn.Feed{Node: xs[v], Data: x[v]})
			for i, s := range sizes {
				target[v] = append(target[v], randSlice(rng, n*s, 1))
				feeds = append(feeds, nn.Feed{Node: targets[v][i], Data: target[v][i]})
			}
		}
		lossCPU, err := prog.Run(ctx, feeds...)
		if err != nil {
			t.Fatal(err)
		}
		var lossDev float64
		if err := tr.Step(ctx, x, squaredLoss(target, &lossDev)); err != nil {
			t.Fatal(err)
		}
		closeTo(t, fmt.Sprintf("step %d loss", step), []float32{float32(lossDev)}, []float32{lossCPU}, tol.loss)
		hs.check(step, tr.net, prog)
	}
	hs.log()
}

// TestViewTrainerMatchesCPU: two views through a ViewTrainer on the host
// engine against the CPU program, with Adam and with each of
// harnessSGDs (the update from the sum of the two views' gradients), and
// with one clip per view.
func TestViewTrainerMatchesCPU(t *testing.T) {
	tol := stepTol{loss: 1e-5, grad: 1e-4, update: 1e-5, state: 1e-5}
	t.Run("Adam", func(t *testing.T) { compareViewsWithCPU(t, NewHostEngine(), 3, tol) })
	t.Run("one clip", func(t *testing.T) { compareViewsWithCPU(t, NewHostEngine(), 1, tol) })
	for _, c := range harnessSGDs {
		sgd := tol
		sgd.update, sgd.newOpt = 0, c.opt
		t.Run("SGD "+c.name, func(t *testing.T) { compareViewsWithCPU(t, NewHostEngine(), 3, sgd) })
	}
}

// TestViewTrainerErrors: bad models, views and losses are errors, and a
// step that fails changes no parameter.
func TestViewTrainerErrors(t *testing.T) {
	ctx := context.Background()
	m := newViewModel()
	e := NewHostEngine()
	batch := [5]int{2, 3, 4, 8, 8}
	narrow := nn.NewLinearLayer("narrow", 7, 5, true, rand.New(rand.NewPCG(1, 1)))
	for name, c := range map[string]struct {
		m     MultiHead
		views int
		want  string
	}{
		"no trunk":          {MultiHead{Heads: m.Heads}, 2, "trunk"},
		"no views":          {m, 0, "view"},
		"nil head":          {MultiHead{Trunk: m.Trunk, Heads: []nn.Module{m.Heads[0], nil}}, 2, "head 2 is nil"},
		"head of 7 inputs":  {MultiHead{Trunk: m.Trunk, Heads: []nn.Module{narrow}}, 2, "head 1: "},
		"head of 7, second": {MultiHead{Trunk: m.Trunk, Heads: []nn.Module{m.Heads[0], narrow}}, 2, "head 2: "},
	} {
		if _, err := NewViewTrainer(e, c.m, batch, c.views, nn.NewAdam(1e-3)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", name, err, c.want)
		}
	}
	tr, err := NewViewTrainer(e, m, batch, 2, nn.NewAdam(1e-3))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	clip := 3 * 4 * 8 * 8
	x := make([]float32, 2*clip)
	zero := func(int) [][][]float32 {
		return [][][]float32{{make([]float32, 10), make([]float32, 6)}, {make([]float32, 10), make([]float32, 6)}}
	}
	var loss float64
	for _, c := range []struct {
		name string
		x    [][]float32
	}{
		{"3 clips for 2", [][]float32{make([]float32, 3*clip), make([]float32, 3*clip)}},
		{"views of different sizes", [][]float32{x, x[:clip]}},
		{"no clips", [][]float32{nil, nil}},
		{"one view for two", [][]float32{x}},
	} {
		if err := tr.Step(ctx, c.x, squaredLoss(zero(2), &loss)); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if err := tr.Step(ctx, [][]float32{x, x}, nil); err == nil {
		t.Error("nil loss: no error")
	}
	errLoss := errors.New("the loss's error")
	if err := tr.Step(ctx, [][]float32{x, x}, func(*Outputs) error { return errLoss }); !errors.Is(err, errLoss) {
		t.Errorf("a loss that failed: %v, want its error", err)
	}
	short := func(o *Outputs) error { o.Grads[1][0] = o.Grads[1][0][:3]; return nil }
	if err := tr.Step(ctx, [][]float32{x, x}, short); err == nil || !strings.Contains(err.Error(), "view 2's output 1") {
		t.Errorf("a loss that cut a gradient short: %v", err)
	}
	head := m.Heads[0].(*nn.LinearLayer)
	before := slices.Clone(head.Weight.Data())
	nan := slices.Clone(x)
	nan[5] = float32(math.NaN())
	if err := tr.Step(ctx, [][]float32{nan, x}, squaredLoss(zero(2), &loss)); err == nil {
		t.Error("a NaN input gave no error")
	}
	// A loss that writes a NaN gradient: the backward pass runs, the
	// optimiser does not.
	bad := func(o *Outputs) error { o.Grads[0][1][0] = float32(math.NaN()); return nil }
	if err := tr.Step(ctx, [][]float32{x, x}, bad); err == nil || !strings.Contains(err.Error(), "no parameter was updated") {
		t.Errorf("a NaN gradient: %v", err)
	}
	if err := tr.SyncToHost(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, head.Weight.Data()) {
		t.Error("a failed step changed the first head")
	}
}
