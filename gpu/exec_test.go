package gpu

import (
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/tensorcmp"
	"github.com/vidssl/vidssl/internal/testmodel"
	"github.com/vidssl/vidssl/nn"
)

// newUserModel is the test model of a user (testmodel.Net, not from
// resnet3d) for clips of 2 channels, with one output.
func newUserModel(seed uint64) *testmodel.Net { return testmodel.New(seed, 2, 1) }

// TestPlanUserModelMatchesCPU is issue 14's must-hold test: a model
// defined with nn's layers in this test (not resnet3d) trains through the
// generic plan on the host engine, and two steps agree with the CPU's
// gorgonia graph of the same model (BCEWithLogits with pos_weight, Adam):
// the loss, the gradient of every parameter, the running statistics and
// num_batches_tracked, every parameter's update and Adam's moments (the
// stepHarness protocol of TestTrainerMatchesCPU). Tolerances are relative
// L2 errors per tensor: 1e-5 for the loss, every gradient and the state.
func TestPlanUserModelMatchesCPU(t *testing.T) {
	compareUserModelWithCPU(t, NewHostEngine(), stepTol{loss: 1e-5, grad: 1e-5, update: 1e-5, state: 1e-5})
}

// compareUserModelWithCPU runs TestPlanUserModelMatchesCPU's protocol on e
// with tolerances tol.
func compareUserModelWithCPU(t *testing.T, e *Engine, tol stepTol) {
	t.Helper()
	models := [3]nn.Module{newUserModel(1), newUserModel(1), newUserModel(1)}
	compareModelWithCPU(t, e, models, [5]int{3, 2, 4, 8, 8}, tol)
}

// TestPlanRejects: models the plan cannot run are errors at NewTrainer,
// naming the layer, before anything runs.
func TestPlanRejects(t *testing.T) {
	e := NewHostEngine()
	batch := [5]int{2, 2, 4, 8, 8}
	for _, c := range []struct {
		name string
		edit func(m *testmodel.Net)
		want string
	}{
		{"conv bias", func(m *testmodel.Net) { m.Conv2.Bias = nn.NewParam("net.conv2.bias", 4) }, "Conv3d net.conv2 has a bias"},
		{"shared weight", func(m *testmodel.Net) { m.ShareConv2 = true }, `"net.conv2.weight" is used by net.conv2 and net.conv3`},
		{"dropout", func(m *testmodel.Net) { m.Dropout = true }, "has no tape form"},
		{"buffer weight", func(m *testmodel.Net) { m.FC2.Weight.Buffer = true }, `the weight "net.fc2.weight" is a buffer`},
	} {
		m := newUserModel(1)
		c.edit(m)
		if _, err := NewTrainer(e, m, batch, 1, nn.NewAdam(1e-3)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	// A Param the graph uses but the model does not list.
	m := newUserModel(1)
	hidden := &hiddenParams{m}
	if _, err := NewTrainer(e, hidden, batch, 1, nn.NewAdam(1e-3)); err == nil || !strings.Contains(err.Error(), `uses "net.conv1.weight", which is not among its Params`) {
		t.Errorf("unlisted Param: %v", err)
	}
	if _, err := NewTrainer(e, m, [5]int{2, 2, 0, 8, 8}, 1, nn.NewAdam(1e-3)); err == nil || !strings.Contains(err.Error(), "dimension < 1") {
		t.Errorf("empty batch: %v", err)
	}
	if _, err := NewTrainer(e, nil, batch, 1, nn.NewAdam(1e-3)); err == nil || !strings.Contains(err.Error(), "nil model") {
		t.Errorf("nil model: %v", err)
	}
}

// hiddenParams is a model that forgets to list its first convolution.
type hiddenParams struct{ *testmodel.Net }

func (h *hiddenParams) Params() []*nn.Param { return h.Net.Params()[1:] }

// TestPlanGradientSlots: the compiler reuses memory. The user model's
// gradients fit in fewer slots than it has values needing one, and the
// slots hold less than one tensor per value would; ops that may overwrite
// their input do.
func TestPlanGradientSlots(t *testing.T) {
	m := newUserModel(1)
	tr, err := NewTrainer(NewHostEngine(), m, [5]int{2, 2, 4, 8, 8}, 1, nn.NewAdam(1e-3))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	p := tr.vt.views[0]
	if got, want := len(p.tape.Ops), 16; got != want {
		t.Errorf("the tape has %d ops, want %d", got, want)
	}
	var values, all, slots int
	for v, need := range p.needGrad {
		if need {
			values++
			all += numel(p.tape.Shapes[v])
		}
	}
	for _, s := range p.slots {
		slots += s.Len()
	}
	t.Logf("%d values need gradients (%d floats); %d slots hold %d floats", values, all, len(p.slots), slots)
	if len(p.slots) >= values || slots >= all {
		t.Errorf("%d slots of %d floats for %d gradients of %d floats: no reuse", len(p.slots), slots, values, all)
	}
	// Activations: the ReLUs after bn2 and fc1 and the two residual adds
	// overwrite their inputs, and the Reshape is a view: 5 values share
	// memory.
	bufs := map[*buffer]bool{}
	for _, a := range p.full {
		bufs[a.buf] = true
	}
	if got, want := len(bufs), len(p.full)-5; got != want {
		t.Errorf("%d activation buffers for %d values, want %d", got, len(p.full), want)
	}
}

// TestPlanOutputsFeedingOps: a tape with two outputs, the first of which
// another op reads (features f and logits fc(f)), run forward and backward
// from given output gradients r1 and r2, gives the CPU graph's gradients of
// sum(f*r1) + sum(fc(f)*r2) for every parameter (1e-5): the caller's
// gradient of an output and the gradients flowing into it add up.
func TestPlanOutputsFeedingOps(t *testing.T) {
	const n = 3
	shape := []int{n, 2, 4, 6, 6}
	build := func() (*nn.Conv3dLayer, *nn.BatchNorm3dLayer, *nn.LinearLayer) {
		rng := rand.New(rand.NewPCG(2, 3))
		return nn.NewConv3dLayer("c", 2, 4, [3]int{3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, false, rng),
			nn.NewBatchNorm3dLayer("b", 4), nn.NewLinearLayer("fc", 4, 2, true, rng)
	}
	forward := func(g *nn.Graph, x *G.Node, conv *nn.Conv3dLayer, bn *nn.BatchNorm3dLayer, fc *nn.LinearLayer) (f, z *G.Node) {
		y, err := conv.Forward(g, x)
		if err == nil {
			y, err = bn.ForwardReLU(g, y)
		}
		if err == nil {
			y, err = nn.GlobalAvgPool3d(y, "gap")
		}
		if err == nil {
			f, err = nn.Flatten(y)
		}
		if err == nil {
			z, err = fc.Forward(g, f)
		}
		if err != nil {
			t.Fatal(err)
		}
		return f, z
	}
	rng := rand.New(rand.NewPCG(9, 9))
	x := randSlice(rng, numel(shape), 1)
	r1, r2 := randSlice(rng, n*4, 1), randSlice(rng, n*2, 1)

	// The CPU: gorgonia's gradients of sum(f*r1) + sum(z*r2).
	conv, bn, fc := build()
	g := nn.NewGraph(true, nil)
	xn := g.Input("x", shape...)
	xd, _ := xn.Value().Data().([]float32)
	copy(xd, x)
	f, z := forward(g, xn, conv, bn, fc)
	weigh := func(y *G.Node, r []float32, name string) *G.Node {
		rn := g.Input(name, []int(y.Shape())...)
		rd, _ := rn.Value().Data().([]float32)
		copy(rd, r)
		l, err := G.ApplyOp(&wsumOp{dims: y.Dims()}, y, rn)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	loss := G.Must(G.Add(weigh(f, r1, "r1"), weigh(z, r2, "r2")))
	params, nodes := g.Learnables()
	grads, err := G.Grad(loss, nodes...)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g.Exp)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}

	// The plan, from the same model's tape.
	conv2, bn2, fc2 := build()
	g2 := nn.NewGraph(true, nil)
	xn2 := G.NewTensor(g2.Exp, tensor.Float32, 5, G.WithShape(shape...), G.WithName("x"))
	f2, z2 := forward(g2, xn2, conv2, bn2, fc2)
	tape, err := g2.Trace([]*G.Node{xn2}, f2, z2)
	if err != nil {
		t.Fatal(err)
	}
	e := NewHostEngine()
	nt, err := newState(e, tape.Params(), 1, nn.NewAdam(1e-3))
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()
	p, err := compileTape(nt, nt.passes[0], tape, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Upload(p.input(0), x); err != nil {
		t.Fatal(err)
	}
	if err := p.forward(true); err != nil {
		t.Fatal(err)
	}
	closeTo(t, "f", host(t, e, p.output(0)), values(t, f.Value()), 1e-5)
	closeTo(t, "z", host(t, e, p.output(1)), values(t, z.Value()), 1e-5)
	for i, r := range [][]float32{r1, r2} {
		if err := e.Upload(p.outputGrad(i), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.backward(); err != nil {
		t.Fatal(err)
	}
	got, err := nt.Gradients()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(params) {
		t.Fatalf("%d gradients on the engine, %d on the CPU", len(got), len(params))
	}
	var w tensorcmp.Worst
	for i, q := range params {
		w.Check(t, "gradient", q.Name, got[q.Name], values(t, grads[i].Value()), 1e-5)
	}
	t.Logf("largest relative L2 error %.2g (%s)", w.Err, w.Name)
}
