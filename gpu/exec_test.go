package gpu

import (
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
)

// userModel is a small 3-D CNN that a user might write with nn's layers,
// not from resnet3d: it uses every op kind of nn.Tape, and values with
// several consumers whose gradients the plan must sum (p feeds conv2,
// conv3 and the second residual add).
//
//	a = conv1(x)                      Conv3d 3x3x3, padding 1
//	b = relu(bn1(a))                  BatchNorm3d + ReLU (fused)
//	p = maxpool(b)                    MaxPool3d 1x2x2
//	r = relu(bn2(conv2(p)))           Conv3d, BatchNorm3d, ReLU (separate)
//	e = bn3(conv3(p))                 Conv3d 1x1x1 with stride 1, BatchNorm3d
//	s = relu((r + e) + p)             Add, then Add + ReLU (fused)
//	q = avgpool(s)                    AvgPool3d 2x2x2
//	f = flatten(globalavgpool(q))     GlobalAvgPool3d, Flatten
//	z = fc2(relu(fc1(f)))             Linear with bias, ReLU, Linear without bias
type userModel struct {
	conv1, conv2, conv3 *nn.Conv3dLayer
	bn1, bn2, bn3       *nn.BatchNorm3dLayer
	fc1, fc2            *nn.LinearLayer
	// shareConv2 makes conv3 apply conv2's weight, a shared Param.
	shareConv2 bool
	// dropout adds nn.Dropout before fc2, which the plan cannot run.
	dropout bool
}

func newUserModel(seed uint64) *userModel {
	rng := rand.New(rand.NewPCG(seed, seed))
	m := &userModel{
		conv1: nn.NewConv3dLayer("net.conv1", 2, 4, [3]int{3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, false, rng),
		bn1:   nn.NewBatchNorm3dLayer("net.bn1", 4),
		conv2: nn.NewConv3dLayer("net.conv2", 4, 4, [3]int{3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, false, rng),
		bn2:   nn.NewBatchNorm3dLayer("net.bn2", 4),
		conv3: nn.NewConv3dLayer("net.conv3", 4, 4, [3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{}, false, rng),
		bn3:   nn.NewBatchNorm3dLayer("net.bn3", 4),
		fc1:   nn.NewLinearLayer("net.fc1", 4, 3, true, rng),
		fc2:   nn.NewLinearLayer("net.fc2", 3, 1, false, rng),
	}
	// Batch-norm affine parameters away from 1 and 0, so that their
	// gradients are not special.
	for _, l := range []*nn.BatchNorm3dLayer{m.bn1, m.bn2, m.bn3} {
		for i := range l.Weight.Data() {
			l.Weight.Data()[i] = float32(0.5 + rng.Float64())
			l.Bias.Data()[i] = float32(rng.Float64() - 0.5)
		}
	}
	return m
}

func (m *userModel) Forward(g *nn.Graph, x *G.Node) (*G.Node, error) {
	a, err := m.conv1.Forward(g, x)
	if err != nil {
		return nil, err
	}
	b, err := m.bn1.ForwardReLU(g, a)
	if err != nil {
		return nil, err
	}
	p, err := nn.MaxPool3d(b, nn.PoolConfig{Name: "net.pool", Kernel: [3]int{1, 2, 2}})
	if err != nil {
		return nil, err
	}
	c, err := m.conv2.Forward(g, p)
	if err != nil {
		return nil, err
	}
	d, err := m.bn2.Forward(g, c)
	if err != nil {
		return nil, err
	}
	r, err := nn.ReLU(d)
	if err != nil {
		return nil, err
	}
	var e *G.Node
	if m.shareConv2 {
		e, err = nn.Conv3d(p, g.Bind(m.conv2.Weight), nil, nn.ConvConfig{Name: "net.conv3", Padding: [3]int{1, 1, 1}})
	} else {
		e, err = m.conv3.Forward(g, p)
	}
	if err != nil {
		return nil, err
	}
	if e, err = m.bn3.Forward(g, e); err != nil {
		return nil, err
	}
	s, err := nn.Add(r, e)
	if err != nil {
		return nil, err
	}
	if s, err = nn.AddReLU(s, p); err != nil {
		return nil, err
	}
	q, err := nn.AvgPool3d(s, nn.PoolConfig{Name: "net.avg", Kernel: [3]int{2, 2, 2}})
	if err != nil {
		return nil, err
	}
	if q, err = nn.GlobalAvgPool3d(q, "net.gap"); err != nil {
		return nil, err
	}
	f, err := nn.Flatten(q)
	if err != nil {
		return nil, err
	}
	h, err := m.fc1.Forward(g, f)
	if err != nil {
		return nil, err
	}
	if h, err = nn.ReLU(h); err != nil {
		return nil, err
	}
	if m.dropout {
		if h, err = nn.Dropout(g, h, 0.5); err != nil {
			return nil, err
		}
	}
	return m.fc2.Forward(g, h)
}

func (m *userModel) Params() []*nn.Param {
	var ps []*nn.Param
	for _, l := range []nn.Module{m.conv1, m.bn1, m.conv2, m.bn2, m.conv3, m.bn3, m.fc1, m.fc2} {
		ps = append(ps, l.Params()...)
	}
	return ps
}

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
		edit func(m *userModel)
		want string
	}{
		{"conv bias", func(m *userModel) { m.conv2.Bias = nn.NewParam("net.conv2.bias", 4) }, "Conv3d net.conv2 has a bias"},
		{"shared weight", func(m *userModel) { m.shareConv2 = true }, `"net.conv2.weight" is used by net.conv2 and net.conv3`},
		{"dropout", func(m *userModel) { m.dropout = true }, "has no tape form"},
		{"buffer weight", func(m *userModel) { m.fc2.Weight.Buffer = true }, `the weight "net.fc2.weight" is a buffer`},
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
type hiddenParams struct{ *userModel }

func (h *hiddenParams) Params() []*nn.Param { return h.userModel.Params()[1:] }

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
	var w worst
	for i, q := range params {
		w.check(t, "gradient", q.Name, got[q.Name], values(t, grads[i].Value()), 1e-5)
	}
	t.Logf("largest relative L2 error %.2g (%s)", w.err, w.name)
}
