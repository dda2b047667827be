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

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/pretext"
	"github.com/vidssl/vidssl/resnet3d"
)

// sslModel is an encoder with its heads.
type sslModel struct {
	enc   *resnet3d.Model
	proj  *contrastive.ProjectionHead
	order *pretext.OrderHead
}

func newSSLModel(t *testing.T, cfg resnet3d.Config, k int) sslModel {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	enc, err := resnet3d.New(cfg, rng)
	if err != nil {
		t.Fatal(err)
	}
	m := sslModel{enc: enc}
	if m.proj, err = contrastive.NewProjectionHead(cfg.FeatureDim(), rng); err != nil {
		t.Fatal(err)
	}
	if k > 0 {
		if m.order, err = pretext.NewOrderHead(cfg.FeatureDim(), k, rng); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (m sslModel) params() []*nn.Param {
	ps := append(m.enc.Params(), m.proj.Params()...)
	if m.order != nil {
		ps = append(ps, m.order.Params()...)
	}
	return ps
}

// dev returns the model as a ViewTrainer takes it: the encoder, then the
// projection head and the order head.
func (m sslModel) dev() MultiHead {
	s := MultiHead{Trunk: m.enc, Heads: []nn.Module{m.proj}}
	if m.order != nil {
		s.Heads = append(s.Heads, m.order)
	}
	return s
}

// sslConfig are the self-supervised loss's settings, as pretrain.Config's:
// loss = ContrastiveWeight * NT-Xent(z1, z2; Tau) + OrderWeight * (CE(order
// logits 1) + CE(order logits 2)) / 2.
type sslConfig struct {
	Tau                            float64
	ContrastiveWeight, OrderWeight float64
}

// sslLoss is one step's losses, and how many of its clips the order head
// ordered right.
type sslLoss struct {
	Loss, NTXent, Order float64
	OrderHits           int
}

// sslStep is pretrain's step on a ViewTrainer (pretrain/device.go): two
// views, and the loss on the host from contrastive's and nn's host
// functions.
type sslStep struct {
	*ViewTrainer
	cfg     sslConfig
	classes int
}

func newSSLStep(e *Engine, m sslModel, batch [5]int, cfg sslConfig, opt nn.Optimizer) (*sslStep, error) {
	tr, err := NewViewTrainer(e, m.dev(), batch, 2, opt)
	if err != nil {
		return nil, err
	}
	s := &sslStep{ViewTrainer: tr, cfg: cfg}
	if m.order != nil {
		s.classes = m.order.Classes()
	}
	return s, nil
}

// Step runs a step on views x1 and x2 with NT-Xent's groups (nil: no
// masking) and each view's order classes (nil without an order head).
func (s *sslStep) Step(ctx context.Context, x1, x2 []float32, groups, order1, order2 []int) (sslLoss, error) {
	var out sslLoss
	err := s.ViewTrainer.Step(ctx, [][]float32{x1, x2}, func(o *Outputs) error {
		ntx, dz1, dz2, err := contrastive.NTXentGrad(o.Values[0][0], o.Values[1][0], o.Rows, o.Sizes[0], s.cfg.Tau, groups)
		if err != nil {
			return err
		}
		out.NTXent = ntx
		for k, dz := range [][]float32{dz1, dz2} {
			for i, v := range dz {
				o.Grads[k][0][i] = float32(s.cfg.ContrastiveWeight) * v
			}
		}
		if (s.classes > 0) != (order1 != nil) {
			return fmt.Errorf("order labels %v for %d classes", order1, s.classes)
		}
		for k, labels := range [][]int{order1, order2} {
			if labels == nil {
				continue
			}
			ce, err := nn.CrossEntropyGrad(o.Values[k][1], labels, s.classes, s.cfg.OrderWeight/2, o.Grads[k][1])
			if err != nil {
				return err
			}
			out.Order += ce / 2
			acc, err := pretext.Accuracy(o.Values[k][1], labels, s.classes)
			if err != nil {
				return err
			}
			out.OrderHits += int(math.Round(acc * float64(o.Rows)))
		}
		out.Loss = s.cfg.ContrastiveWeight*out.NTXent + s.cfg.OrderWeight*out.Order
		if math.IsNaN(out.Loss) || math.IsInf(out.Loss, 0) {
			return fmt.Errorf("loss is %v", out.Loss)
		}
		return nil
	})
	return out, err
}

// sslCPU is pretrain's training graph (see pretrain.Run) on the CPU.
type sslCPU struct {
	prog           *nn.Program
	x1, x2, groups *G.Node
	y1, y2         *G.Node
	ntxent         *G.Node
	ce1, ce2       *G.Node
	o1, o2         *G.Node
}

func buildSSLCPU(t *testing.T, m sslModel, n, tt, h, w int, masked bool, cfg sslConfig, opt nn.Optimizer) *sslCPU {
	t.Helper()
	g := nn.NewGraph(true, nil)
	s := &sslCPU{}
	in := m.enc.Config.InChannels
	s.x1, s.x2 = g.Input("view1", n, in, tt, h, w), g.Input("view2", n, in, tt, h, w)
	must := func(n *G.Node, err error) *G.Node {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	o1, err := m.enc.ForwardAll(g, s.x1)
	if err != nil {
		t.Fatal(err)
	}
	o2, err := m.enc.ForwardAll(g, s.x2)
	if err != nil {
		t.Fatal(err)
	}
	z1, z2 := must(m.proj.Forward(g, o1.Features)), must(m.proj.Forward(g, o2.Features))
	if masked {
		s.groups = g.Input("groups", n)
	}
	s.ntxent = must(contrastive.NTXent(z1, z2, s.groups, cfg.Tau))
	loss := must(G.Mul(s.ntxent, G.NewConstant(float32(cfg.ContrastiveWeight))))
	if m.order != nil {
		s.y1, s.y2 = g.Input("order1", n), g.Input("order2", n)
		s.o1, s.o2 = must(m.order.Forward(g, o1.Features)), must(m.order.Forward(g, o2.Features))
		s.ce1, s.ce2 = must(pretext.Loss(s.o1, s.y1)), must(pretext.Loss(s.o2, s.y2))
		order := must(G.Mul(must(G.Add(s.ce1, s.ce2)), G.NewConstant(float32(cfg.OrderWeight/2))))
		loss = must(G.Add(loss, order))
	}
	if s.prog, err = nn.NewTrainer(g, loss, opt); err != nil {
		t.Fatal(err)
	}
	return s
}

// compareSSLWithCPU runs two self-supervised steps on e and on the CPU, each
// from the engine's state, and compares them as compareWithCPU does: the
// loss and its parts, every gradient, the running statistics and
// num_batches_tracked with the CPU's, the updates and Adam moments with a
// host Adam fed the engine's gradients.
func compareSSLWithCPU(t *testing.T, e *Engine, cfg resnet3d.Config, k, n, tt, h, w int, masked bool, tol stepTol) {
	t.Helper()
	ctx := context.Background()
	mCPU, mDev, mRef := newSSLModel(t, cfg, k), newSSLModel(t, cfg, k), newSSLModel(t, cfg, k)
	hs := newStepHarness(t, tol, mCPU.params(), mDev.params(), mRef.params())
	scfg := sslConfig{Tau: 0.5, ContrastiveWeight: 0.7, OrderWeight: 1.3}
	cpu := buildSSLCPU(t, mCPU, n, tt, h, w, masked, scfg, hs.optCPU)
	defer cpu.prog.Close()
	tr, err := newSSLStep(e, mDev, [5]int{n, mDev.enc.Config.InChannels, tt, h, w}, scfg, hs.optDev)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	for step := 1; step <= 2; step++ {
		hs.start(step)
		x1 := randSlice(rng, n*cfg.InChannels*tt*h*w, 1)
		x2 := randSlice(rng, n*cfg.InChannels*tt*h*w, 1)
		feeds := []nn.Feed{{Node: cpu.x1, Data: x1}, {Node: cpu.x2, Data: x2}}
		var groups, l1, l2 []int
		if masked {
			groups = make([]int, n)
			for i := range groups {
				groups[i] = i / 2 // pairs of pairs share a study
			}
			feeds = append(feeds, nn.Feed{Node: cpu.groups, Data: floats(groups)})
		}
		if k > 0 {
			l1, l2 = make([]int, n), make([]int, n)
			for i := range l1 {
				l1[i], l2[i] = rng.IntN(mDev.order.Classes()), rng.IntN(mDev.order.Classes())
			}
			feeds = append(feeds, nn.Feed{Node: cpu.y1, Data: floats(l1)}, nn.Feed{Node: cpu.y2, Data: floats(l2)})
		}
		lossCPU, err := cpu.prog.Run(ctx, feeds...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tr.Step(ctx, x1, x2, groups, l1, l2)
		if err != nil {
			t.Fatal(err)
		}
		ntx, _ := nn.ScalarValue(cpu.ntxent.Value())
		want := []float32{lossCPU, ntx}
		if k > 0 {
			c1, _ := nn.ScalarValue(cpu.ce1.Value())
			c2, _ := nn.ScalarValue(cpu.ce2.Value())
			want = append(want, (c1+c2)/2)
			hits := 0
			for i, o := range []*G.Node{cpu.o1, cpu.o2} {
				acc, err := pretext.Accuracy(values(t, o.Value()), [][]int{l1, l2}[i], mDev.order.Classes())
				if err != nil {
					t.Fatal(err)
				}
				hits += int(acc*float64(n) + 0.5)
			}
			if hits != got.OrderHits {
				t.Errorf("step %d: %d order hits on the engine, %d on the CPU", step, got.OrderHits, hits)
			}
		}
		have := []float32{float32(got.Loss), float32(got.NTXent), float32(got.Order)}[:len(want)]
		closeTo(t, fmt.Sprintf("step %d loss, NT-Xent, order", step), have, want, tol.loss)
		t.Logf("step %d: loss %.7f on the CPU, %.7f on %s (NT-Xent %.5f, order %.5f, %d order hits)", step, lossCPU, got.Loss, e.Name(), got.NTXent, got.Order, got.OrderHits)
		hs.check(step, tr.net, cpu.prog)
	}
	hs.log()
}

func floats(v []int) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// tinyEncoder is tinyConfig without fc.
var tinyEncoder = resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}}

// TestSSLTrainerMatchesCPU: the self-supervised step on the host engine
// (the CUDA engine's code with plain-Go ops) against pretrain's graph on the
// CPU, with and without frame order and same-group masking.
func TestSSLTrainerMatchesCPU(t *testing.T) {
	tol := stepTol{loss: 1e-5, grad: 1e-4, update: 1e-5, state: 1e-5}
	t.Run("MI-SimCLR+FO", func(t *testing.T) { compareSSLWithCPU(t, NewHostEngine(), tinyEncoder, 4, 4, 4, 20, 20, true, tol) })
	t.Run("SimCLR", func(t *testing.T) { compareSSLWithCPU(t, NewHostEngine(), tinyEncoder, 0, 3, 4, 20, 20, false, tol) })
	// One pair per step: NT-Xent has no negatives (its loss is 0), but
	// the step is valid and the frame-order loss still trains.
	t.Run("one pair", func(t *testing.T) { compareSSLWithCPU(t, NewHostEngine(), tinyEncoder, 4, 1, 4, 20, 20, true, tol) })
	// R(2+1)D, which the R3D-only plan could not run, through the same
	// generic plan.
	r21 := resnet3d.R2Plus1D18(0)
	r21.Width, r21.Blocks = tinyEncoder.Width, tinyEncoder.Blocks
	t.Run("R(2+1)D MI-SimCLR+FO", func(t *testing.T) { compareSSLWithCPU(t, NewHostEngine(), r21, 4, 4, 4, 20, 20, true, tol) })
	// SGD instead of Adam, on the sum of the two views' gradients.
	for _, c := range harnessSGDs {
		sgd := tol
		sgd.update, sgd.newOpt = 0, c.opt
		t.Run("MI-SimCLR+FO SGD "+c.name, func(t *testing.T) { compareSSLWithCPU(t, NewHostEngine(), tinyEncoder, 4, 4, 4, 20, 20, true, sgd) })
	}
}

// TestViewTrainerErrors: bad models, views and losses are errors, and a
// step that fails changes no parameter.
func TestViewTrainerErrors(t *testing.T) {
	ctx := context.Background()
	m := newSSLModel(t, tinyEncoder, 4)
	e := NewHostEngine()
	batch := [5]int{2, m.enc.Config.InChannels, 4, 20, 20}
	withFC, _ := resnet3d.New(tinyConfig, rand.New(rand.NewPCG(1, 1)))
	for name, c := range map[string]struct {
		m     MultiHead
		views int
		want  string
	}{
		"no trunk":    {MultiHead{Heads: []nn.Module{m.proj}}, 2, "trunk"},
		"no views":    {m.dev(), 0, "view"},
		"nil head":    {MultiHead{Trunk: m.enc, Heads: []nn.Module{m.proj, nil}}, 2, "head 2 is nil"},
		"fc and head": {MultiHead{Trunk: withFC, Heads: []nn.Module{m.proj}}, 2, "head 1: "},
	} {
		if _, err := NewViewTrainer(e, c.m, batch, c.views, nn.NewAdam(1e-3)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", name, err, c.want)
		}
	}
	tr, err := newSSLStep(e, m, batch, sslConfig{Tau: 0.1, ContrastiveWeight: 1, OrderWeight: 1}, nn.NewAdam(1e-3))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if got, want := tr.out.Sizes, []int{m.proj.OutDim(), 24}; !slices.Equal(got, want) {
		t.Errorf("output sizes %v, want %v", got, want)
	}
	clip := 3 * 4 * 20 * 20
	x := make([]float32, 2*clip)
	for _, c := range []struct {
		name           string
		x1, x2         []float32
		groups, o1, o2 []int
	}{
		{"3 pairs", make([]float32, 3*clip), make([]float32, 3*clip), nil, []int{0, 0, 0}, []int{0, 0, 0}},
		{"views of different sizes", x, x[:clip], nil, []int{0}, []int{0}},
		{"order class 24", x, x, nil, []int{0, 24}, []int{0, 1}},
		{"one group id", x, x, []int{1}, []int{0, 1}, []int{0, 1}},
	} {
		if _, err := tr.Step(ctx, c.x1, c.x2, c.groups, c.o1, c.o2); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	noop := func(*Outputs) error { return nil }
	if err := tr.ViewTrainer.Step(ctx, [][]float32{x}, noop); err == nil {
		t.Error("one view for two: no error")
	}
	if err := tr.ViewTrainer.Step(ctx, [][]float32{x, x}, nil); err == nil {
		t.Error("nil loss: no error")
	}
	short := func(o *Outputs) error { o.Grads[1][0] = o.Grads[1][0][:3]; return nil }
	if err := tr.ViewTrainer.Step(ctx, [][]float32{x, x}, short); err == nil || !strings.Contains(err.Error(), "view 2's output 1") {
		t.Errorf("a loss that cut a gradient short: %v", err)
	}
	nan := slices.Clone(x)
	nan[5] = float32(nan32())
	before := slices.Clone(m.proj.First.Weight.Data())
	if _, err := tr.Step(ctx, nan, x, nil, []int{0, 1}, []int{2, 3}); err == nil {
		t.Error("a NaN input gave no error")
	}
	// A loss that writes a NaN gradient: the backward pass runs, Adam does
	// not.
	bad := func(o *Outputs) error { o.Grads[0][1][0] = float32(nan32()); return nil }
	if err := tr.ViewTrainer.Step(ctx, [][]float32{x, x}, bad); err == nil || !strings.Contains(err.Error(), "no parameter was updated") {
		t.Errorf("a NaN gradient: %v", err)
	}
	if err := tr.SyncToHost(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, m.proj.First.Weight.Data()) {
		t.Error("a failed step changed the projection head")
	}
}

func nan32() float64 {
	var zero float64
	return zero / zero
}
