package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/gradcheck"
)

// TestBatchNorm3dGolden runs two training steps and one evaluation step of one
// layer against PyTorch: outputs, all gradients and the running statistics.
func TestBatchNorm3dGolden(t *testing.T) {
	gd := ltLoad(t, "batchnorm.json")
	shape := gd["x1"].Shape
	l := NewBatchNorm3dLayer("bn", shape[1])
	copy(l.Weight.Data(), gd["weight"].Float32())
	copy(l.Bias.Data(), gd["bias"].Float32())
	copy(l.RunningMean.Data(), gd["running_mean0"].Float32())
	copy(l.RunningVar.Data(), gd["running_var0"].Float32())

	build := func(training bool) (x, dy, y *G.Node, grads G.Nodes, g *Graph) {
		g = NewGraph(training, nil)
		x = g.Input("x", shape...)
		dy = g.Input("dy", shape...)
		y, err := l.Forward(g, x)
		if err != nil {
			t.Fatal(err)
		}
		loss, err := ltWeightedSum(y, dy)
		if err != nil {
			t.Fatal(err)
		}
		_, learn := g.Learnables()
		grads, err = G.Grad(loss, append(G.Nodes{x}, learn...)...)
		if err != nil {
			t.Fatal(err)
		}
		return x, dy, y, grads, g
	}

	// One training graph, executed twice with new inputs.
	x, dy, y, grads, g := build(true)
	m := G.NewTapeMachine(g.Exp)
	defer m.Close()
	for _, tag := range []string{"1", "2"} {
		ltLet(t, x, ltGolden(t, gd, "x"+tag))
		ltLet(t, dy, ltGolden(t, gd, "dy"+tag))
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		ltClose(t, "train y", ltData(t, y), gd, "y"+tag)
		ltClose(t, "train dx", ltData(t, grads[0]), gd, "dx"+tag)
		ltClose(t, "train dweight", ltData(t, grads[1]), gd, "dweight"+tag)
		ltClose(t, "train dbias", ltData(t, grads[2]), gd, "dbias"+tag)
		ltClose(t, "running_mean", l.RunningMean.Data(), gd, "running_mean"+tag)
		ltClose(t, "running_var", l.RunningVar.Data(), gd, "running_var"+tag)
		ltClose(t, "num_batches_tracked", l.NumBatchesTracked.Data(), gd, "num_batches_tracked"+tag)
	}

	// Evaluation with the statistics the training graph left.
	x, dy, y, grads, g = build(false)
	ltLet(t, x, ltGolden(t, gd, "x_eval"))
	ltLet(t, dy, ltGolden(t, gd, "dy_eval"))
	ltRun(t, g.Exp)
	ltClose(t, "eval y", ltData(t, y), gd, "y_eval")
	ltClose(t, "eval dx", ltData(t, grads[0]), gd, "dx_eval")
	ltClose(t, "eval dweight", ltData(t, grads[1]), gd, "dweight_eval")
	ltClose(t, "eval dbias", ltData(t, grads[2]), gd, "dbias_eval")
	ltClose(t, "eval leaves running_mean", l.RunningMean.Data(), gd, "running_mean_eval")
	ltClose(t, "eval leaves running_var", l.RunningVar.Data(), gd, "running_var_eval")
	ltClose(t, "eval leaves num_batches_tracked", l.NumBatchesTracked.Data(), gd, "num_batches_tracked_eval")
}

func ltBNLayer(rng *rand.Rand, c int) *BatchNorm3dLayer {
	l := NewBatchNorm3dLayer("bn", c)
	for i := range c {
		l.RunningMean.Data()[i] = float32(0.3 * rng.NormFloat64())
		l.RunningVar.Data()[i] = float32(0.5 + rng.Float64())
	}
	return l
}

func TestBatchNorm3dGradient(t *testing.T) {
	for _, training := range []bool{true, false} {
		name := "eval"
		if training {
			name = "train"
		}
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, 3))
			l := ltBNLayer(rng, 3)
			x := randTensor(rng, 0, 2, 3, 2, 3, 3)
			w := randTensor(rng, 0.5, 3)
			b := randTensor(rng, 0, 3)
			err := gradcheck.Check(func(_ *G.ExprGraph, in []*G.Node) (*G.Node, error) {
				return l.Apply(in[0], in[1], in[2], training)
			}, []*tensor.Dense{x, w, b}, []bool{true, true, true}, gradcheck.Options{Eps: 1e-2, Tol: 2e-3, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBatchNorm3dUpdatesOncePerRun checks that a training graph updates the
// running statistics once per execution, also when its gradient is taken.
func TestBatchNorm3dUpdatesOncePerRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	l := NewBatchNorm3dLayer("bn", 2)
	g := NewGraph(true, nil)
	x := G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(3, 2, 1, 2, 2), G.WithName("x"), G.WithValue(randTensor(rng, 0, 3, 2, 1, 2, 2)))
	y, err := l.Forward(g, x)
	if err != nil {
		t.Fatal(err)
	}
	r := G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(3, 2, 1, 2, 2), G.WithName("r"), G.WithValue(randTensor(rng, 0, 3, 2, 1, 2, 2)))
	loss, err := ltWeightedSum(y, r)
	if err != nil {
		t.Fatal(err)
	}
	_, learn := g.Learnables()
	if _, err := G.Grad(loss, append(G.Nodes{x}, learn...)...); err != nil {
		t.Fatal(err)
	}
	m := G.NewTapeMachine(g.Exp)
	defer m.Close()
	for run := 1; run <= 3; run++ {
		m.Reset()
		if err := m.RunAll(); err != nil {
			t.Fatal(err)
		}
		if got := l.NumBatchesTracked.Data()[0]; got != float32(run) {
			t.Fatalf("after %d runs num_batches_tracked = %v", run, got)
		}
	}
}

func TestBatchNorm3dErrors(t *testing.T) {
	l := NewBatchNorm3dLayer("layer1.0.bn1", 4)
	for _, tc := range []struct {
		shape    []int
		training bool
		want     string
	}{
		{[]int{2, 4, 3, 3}, true, "want 5 dimensions"},
		{[]int{2, 3, 1, 2, 2}, true, "weight [4] does not match input [2 3 1 2 2]"},
		{[]int{1, 4, 1, 1, 1}, true, "more than 1 value per channel"},
	} {
		g := NewGraph(tc.training, nil)
		_, err := l.Forward(g, g.Input("x", tc.shape...))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), l.Name) {
			t.Errorf("input %v: error %v, want one containing %q and the layer name", tc.shape, err, tc.want)
		}
	}
	// One value per channel is fine in evaluation.
	g := NewGraph(false, nil)
	if _, err := l.Forward(g, g.Input("x", 1, 4, 1, 1, 1)); err != nil {
		t.Errorf("eval with one value per channel: %v", err)
	}
}

func TestBatchNorm3dParams(t *testing.T) {
	l := NewBatchNorm3dLayer("stem.1", 5)
	want := []string{"stem.1.weight", "stem.1.bias", "stem.1.running_mean", "stem.1.running_var", "stem.1.num_batches_tracked"}
	ps := l.Params()
	for i, p := range ps {
		if p.Name != want[i] {
			t.Errorf("param %d is %q, want %q", i, p.Name, want[i])
		}
		if p.Buffer != (i >= 2) {
			t.Errorf("%s: Buffer = %v", p.Name, p.Buffer)
		}
	}
	if l.Weight.Data()[0] != 1 || l.RunningVar.Data()[4] != 1 || l.Bias.Data()[0] != 0 || l.RunningMean.Data()[0] != 0 {
		t.Error("initial state is not PyTorch's (weight 1, bias 0, mean 0, var 1)")
	}
}

// TestBatchNorm3dLarge runs a training step big enough to split channels over
// goroutines and checks that each output channel has mean beta and variance
// gamma^2 (up to eps), and that the input gradient of a loss that is constant
// per channel vanishes.
func TestBatchNorm3dLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const n, c, d = 2, 16, 4 * 16 * 16
	l := NewBatchNorm3dLayer("big", c)
	for i := range c {
		l.Weight.Data()[i] = float32(0.5 + rng.Float64())
		l.Bias.Data()[i] = float32(rng.NormFloat64())
	}
	g := NewGraph(true, nil)
	xt := randTensor(rng, 0, n, c, 4, 16, 16)
	for i, v := range xt.Data().([]float32) {
		xt.Data().([]float32)[i] = 3*v + float32((i/d)%c)
	}
	x := G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(n, c, 4, 16, 16), G.WithName("x"), G.WithValue(xt))
	ones := tensor.New(tensor.WithShape(n, c, 4, 16, 16), tensor.Of(tensor.Float32))
	for i := range ones.Data().([]float32) {
		ones.Data().([]float32)[i] = float32((i / d) % c) // constant per channel
	}
	r := G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(n, c, 4, 16, 16), G.WithName("r"), G.WithValue(ones))
	y, err := l.Forward(g, x)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := ltWeightedSum(y, r)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := G.Grad(loss, x)
	if err != nil {
		t.Fatal(err)
	}
	ltRun(t, g.Exp)
	ys := ltData(t, y)
	for ch := range c {
		var s, ss float64
		for i := range n {
			for _, v := range ys[(i*c+ch)*d : (i*c+ch+1)*d] {
				s += float64(v)
				ss += float64(v) * float64(v)
			}
		}
		mean := s / (n * d)
		variance := ss/(n*d) - mean*mean
		gamma, beta := float64(l.Weight.Data()[ch]), float64(l.Bias.Data()[ch])
		if math.Abs(mean-beta) > 1e-4 || math.Abs(variance-gamma*gamma) > 1e-3*gamma*gamma {
			t.Errorf("channel %d: mean %.6f variance %.6f, want %.6f and %.6f", ch, mean, variance, beta, gamma*gamma)
		}
	}
	for i, v := range ltData(t, grads[0]) {
		if math.Abs(float64(v)) > 1e-5 {
			t.Fatalf("dx[%d] = %v, want 0 for a loss constant per channel", i, v)
		}
	}
}

func BenchmarkBatchNorm3dTrain(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	l := NewBatchNorm3dLayer("bn", 64)
	g := NewGraph(true, nil)
	shape := []int{8, 64, 4, 28, 28}
	x := G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(shape...), G.WithName("x"), G.WithValue(randTensor(rng, 0, shape...)))
	r := G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(shape...), G.WithName("r"), G.WithValue(randTensor(rng, 0, shape...)))
	y, err := l.Forward(g, x)
	if err != nil {
		b.Fatal(err)
	}
	loss, err := ltWeightedSum(y, r)
	if err != nil {
		b.Fatal(err)
	}
	_, learn := g.Learnables()
	if _, err := G.Grad(loss, append(G.Nodes{x}, learn...)...); err != nil {
		b.Fatal(err)
	}
	m := G.NewTapeMachine(g.Exp)
	defer m.Close()
	b.ResetTimer()
	for b.Loop() {
		m.Reset()
		if err := m.RunAll(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBatchNorm3dReLU checks the fused batch norm + ReLU against
// ReLU(BatchNorm3d) built from the two ops: outputs, the gradients of x,
// weight and bias, and the running statistics, in both modes, over several
// executions of one machine with new inputs (which exercises the reuse of
// output tensors and of the statistics shared by the gradient ops).
func TestBatchNorm3dReLU(t *testing.T) {
	for _, training := range []bool{true, false} {
		t.Run(map[bool]string{true: "train", false: "eval"}[training], func(t *testing.T) {
			rng := rand.New(rand.NewPCG(6, 7))
			shape := []int{2, 3, 2, 3, 4}
			type side struct {
				l        *BatchNorm3dLayer
				x, r, y  *G.Node
				grads    G.Nodes
				m        G.VM
				fused    bool
				xt, rt   *tensor.Dense
				gt       *Graph
				learnIdx int
			}
			base := ltBNLayer(rng, 3)
			for i := range 3 {
				base.Weight.Data()[i] = float32(0.5 + rng.Float64())
				base.Bias.Data()[i] = float32(0.3 * rng.NormFloat64())
			}
			var sides [2]*side
			for i, fused := range []bool{false, true} {
				l := NewBatchNorm3dLayer("bn", 3)
				for j, p := range l.Params() {
					copy(p.Data(), base.Params()[j].Data())
				}
				g := NewGraph(training, nil)
				s := &side{l: l, fused: fused, gt: g}
				s.xt, s.rt = randTensor(rng, 0, shape...), randTensor(rng, 0, shape...)
				s.x = G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(shape...), G.WithName("x"), G.WithValue(s.xt))
				s.r = G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(shape...), G.WithName("r"), G.WithValue(s.rt))
				var err error
				if fused {
					s.y, err = l.ForwardReLU(g, s.x)
				} else {
					if s.y, err = l.Forward(g, s.x); err == nil {
						s.y, err = ReLU(s.y)
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				loss, err := ltWeightedSum(s.y, s.r)
				if err != nil {
					t.Fatal(err)
				}
				_, learn := g.Learnables()
				if s.grads, err = G.Grad(loss, append(G.Nodes{s.x}, learn...)...); err != nil {
					t.Fatal(err)
				}
				s.m = G.NewTapeMachine(g.Exp)
				defer s.m.Close()
				sides[i] = s
			}
			opt := cmpopts.EquateApprox(1e-5, 1e-5)
			for run := 0; run < 3; run++ {
				x, r := randTensor(rng, 0, shape...), randTensor(rng, 0, shape...)
				var outs [2][][]float32
				for i, s := range sides {
					copy(s.xt.Data().([]float32), x.Data().([]float32))
					copy(s.rt.Data().([]float32), r.Data().([]float32))
					s.m.Reset()
					if err := s.m.RunAll(); err != nil {
						t.Fatal(err)
					}
					outs[i] = append(outs[i], append([]float32(nil), ltData(t, s.y)...))
					for _, gn := range s.grads {
						outs[i] = append(outs[i], append([]float32(nil), ltData(t, gn)...))
					}
					outs[i] = append(outs[i], append([]float32(nil), s.l.RunningMean.Data()...), append([]float32(nil), s.l.RunningVar.Data()...))
				}
				for k, what := range []string{"y", "dx", "dweight", "dbias", "running_mean", "running_var"} {
					if d := cmp.Diff(outs[0][k], outs[1][k], opt); d != "" {
						t.Errorf("run %d: %s differs (-separate +fused):\n%s", run, what, d)
					}
				}
			}
		})
	}
}
