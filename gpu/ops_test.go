package gpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/nn"
)

// TestOpsMatchNN compares every engine op with the nn CPU op (forward, and
// backward through gorgonia.Grad of sum(y * r)) on small 5-D tensors, on the
// host engine, the CUDA backend over the simulated device (kernels run in
// the PTX interpreter, cuBLAS replaced by a CPU SGEMM; cuDNN ops skipped)
// and, when present, a real GPU (within 1e-3).
func TestOpsMatchNN(t *testing.T) {
	for _, ne := range testEngines(t) {
		t.Run(ne.name, func(t *testing.T) { testOps(t, ne) })
	}
}

func testOps(t *testing.T, ne namedEngine) {
	e, rtol := ne.e, ne.rtol
	rng := rand.New(rand.NewPCG(3, 4))

	convCases := []struct {
		name string
		x, w []int
		p    ConvParams
	}{
		{"3x3x2 mixed", []int{2, 3, 5, 6, 7}, []int{4, 3, 3, 3, 2}, ConvParams{Stride: [3]int{1, 2, 1}, Padding: [3]int{1, 1, 0}}},
		{"stem", []int{1, 3, 4, 9, 9}, []int{4, 3, 3, 7, 7}, ConvParams{Stride: [3]int{1, 2, 2}, Padding: [3]int{1, 3, 3}}},
		{"downsample", []int{2, 4, 4, 5, 5}, []int{6, 4, 1, 1, 1}, ConvParams{Stride: [3]int{2, 2, 2}}},
	}
	for _, c := range convCases {
		t.Run("Conv3d "+c.name, func(t *testing.T) {
			xd, wd := randSlice(rng, numel(c.x), 1), randSlice(rng, numel(c.w), 0.5)
			ys, err := ConvOutputShape(c.x, c.w, c.p)
			if err != nil {
				t.Fatal(err)
			}
			r := randSlice(rng, numel(ys), 1)
			want, grads := nnEval(t, true, []nnIn{{c.x, xd, true}, {c.w, wd, true}}, func(_ *nn.Graph, in []*G.Node) (*G.Node, error) {
				return nn.Conv3d(in[0], in[1], nil, nn.ConvConfig{Stride: c.p.Stride, Padding: c.p.Padding})
			}, r)
			x, w, y := upload(t, e, xd, c.x...), upload(t, e, wd, c.w...), newT(t, e, ys...)
			skipNoDNN(t, e.Conv3d(x, w, y, c.p))
			closeTo(t, "y", host(t, e, y), want, rtol)
			dy, dx, dw := upload(t, e, r, ys...), newT(t, e, c.x...), newT(t, e, c.w...)
			if err := e.Conv3dBackwardData(w, dy, dx, c.p); err != nil {
				t.Fatal(err)
			}
			if err := e.Conv3dBackwardFilter(x, dy, dw, c.p); err != nil {
				t.Fatal(err)
			}
			closeTo(t, "dx", host(t, e, dx), grads[0], rtol)
			closeTo(t, "dw", host(t, e, dw), grads[1], rtol)
		})
	}

	t.Run("BatchNorm", func(t *testing.T) {
		shape := []int{3, 4, 2, 3, 3}
		xd := randSlice(rng, numel(shape), 2)
		for i := range xd {
			xd[i] += 1
		}
		gd, bd := randSlice(rng, 4, 1), randSlice(rng, 4, 1)
		rm, rv := randSlice(rng, 4, 1), randSlice(rng, 4, 0.5)
		for i := range rv {
			rv[i] += 1
		}
		r := randSlice(rng, numel(shape), 1)
		layer := nn.NewBatchNorm3dLayer("bn", 4)
		copy(layer.RunningMean.Data(), rm)
		copy(layer.RunningVar.Data(), rv)
		want, grads := nnEval(t, true, []nnIn{{shape, xd, true}, {[]int{4}, gd, true}, {[]int{4}, bd, true}}, func(_ *nn.Graph, in []*G.Node) (*G.Node, error) {
			return layer.Apply(in[0], in[1], in[2], true)
		}, r)
		bn := &BatchNorm{
			Weight: upload(t, e, gd, 4), Bias: upload(t, e, bd, 4),
			RunningMean: upload(t, e, rm, 4), RunningVar: upload(t, e, rv, 4),
			SaveMean: newT(t, e, 4), SaveInvStd: newT(t, e, 4), Eps: 1e-5, Momentum: 0.1,
		}
		x, y := upload(t, e, xd, shape...), newT(t, e, shape...)
		skipNoDNN(t, e.BatchNormTrain(x, y, bn))
		closeTo(t, "y", host(t, e, y), want, rtol)
		closeTo(t, "running_mean", host(t, e, bn.RunningMean), layer.RunningMean.Data(), rtol)
		closeTo(t, "running_var", host(t, e, bn.RunningVar), layer.RunningVar.Data(), rtol)
		dy, dx, dg, db := upload(t, e, r, shape...), newT(t, e, shape...), newT(t, e, 4), newT(t, e, 4)
		if err := e.BatchNormBackward(x, dy, dx, dg, db, bn); err != nil {
			t.Fatal(err)
		}
		closeTo(t, "dx", host(t, e, dx), grads[0], rtol)
		closeTo(t, "dweight", host(t, e, dg), grads[1], rtol)
		closeTo(t, "dbias", host(t, e, db), grads[2], rtol)

		// Evaluation mode with the updated running statistics.
		wantEval, _ := nnEval(t, false, []nnIn{{shape, xd, false}, {[]int{4}, gd, false}, {[]int{4}, bd, false}}, func(_ *nn.Graph, in []*G.Node) (*G.Node, error) {
			return layer.Apply(in[0], in[1], in[2], false)
		}, nil)
		if err := e.BatchNormInfer(x, y, bn); err != nil {
			t.Fatal(err)
		}
		closeTo(t, "eval y", host(t, e, y), wantEval, rtol)
	})

	for _, max := range []bool{true, false} {
		name := "AvgPool3d"
		if max {
			name = "MaxPool3d"
		}
		t.Run(name, func(t *testing.T) {
			shape := []int{2, 3, 4, 7, 7}
			p := PoolParams{Kernel: [3]int{2, 3, 3}, Stride: [3]int{1, 2, 2}, Padding: [3]int{0, 1, 1}, Max: max}
			g, err := p.geometry("test", shape)
			if err != nil {
				t.Fatal(err)
			}
			xd, r := randSlice(rng, numel(shape), 1), randSlice(rng, numel(g.y[:]), 1)
			cfg := nn.PoolConfig{Kernel: p.Kernel, Stride: p.Stride, Padding: p.Padding}
			want, grads := nnEval(t, true, []nnIn{{shape, xd, true}}, func(_ *nn.Graph, in []*G.Node) (*G.Node, error) {
				if max {
					return nn.MaxPool3d(in[0], cfg)
				}
				return nn.AvgPool3d(in[0], cfg)
			}, r)
			x, y := upload(t, e, xd, shape...), newT(t, e, g.y[:]...)
			skipNoDNN(t, e.Pool3d(x, y, p))
			closeTo(t, "y", host(t, e, y), want, rtol)
			dy, dx := upload(t, e, r, g.y[:]...), newT(t, e, shape...)
			if err := e.Pool3dBackward(x, y, dy, dx, p); err != nil {
				t.Fatal(err)
			}
			closeTo(t, "dx", host(t, e, dx), grads[0], rtol)
		})
	}

	shape := []int{2, 3, 3, 4, 5}
	t.Run("ReLU", func(t *testing.T) {
		xd, r := randSlice(rng, numel(shape), 1), randSlice(rng, numel(shape), 1)
		xd[0], xd[1] = 0, float32(math.NaN())
		want, grads := nnEval(t, true, []nnIn{{shape, xd, true}}, func(_ *nn.Graph, in []*G.Node) (*G.Node, error) {
			return nn.ReLU(in[0])
		}, r)
		x := upload(t, e, xd, shape...)
		if err := e.ReLU(x, x); err != nil { // in place
			t.Fatal(err)
		}
		got := host(t, e, x)
		if !math.IsNaN(float64(got[1])) || got[0] != 0 {
			t.Errorf("relu(0), relu(NaN) = %v, %v; want 0, NaN", got[0], got[1])
		}
		got[1], want[1] = 0, 0
		closeTo(t, "y", got, want, 0)
		dy := upload(t, e, r, shape...)
		if err := e.ReLUBackward(x, dy, dy); err != nil { // in place
			t.Fatal(err)
		}
		closeTo(t, "dx", host(t, e, dy), grads[0], 0)
	})

	for _, relu := range []bool{false, true} {
		name := "Add"
		if relu {
			name = "AddReLU"
		}
		t.Run(name, func(t *testing.T) {
			ad, bd := randSlice(rng, numel(shape), 1), randSlice(rng, numel(shape), 1)
			want, _ := nnEval(t, true, []nnIn{{shape, ad, false}, {shape, bd, false}}, func(_ *nn.Graph, in []*G.Node) (*G.Node, error) {
				y, err := nn.Add(in[0], in[1])
				if err != nil || !relu {
					return y, err
				}
				return nn.ReLU(y)
			}, nil)
			a, b := upload(t, e, ad, shape...), upload(t, e, bd, shape...)
			var err error
			if relu {
				err = e.AddReLU(a, b, b)
			} else {
				err = e.Add(a, b, b)
			}
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "y", host(t, e, b), want, 0)
		})
	}

	t.Run("GlobalAvgPool", func(t *testing.T) {
		xd, r := randSlice(rng, numel(shape), 1), randSlice(rng, shape[0]*shape[1], 1)
		want, grads := nnEval(t, true, []nnIn{{shape, xd, true}}, func(_ *nn.Graph, in []*G.Node) (*G.Node, error) {
			y, err := nn.GlobalAvgPool3d(in[0], "avgpool")
			if err != nil {
				return nil, err
			}
			return nn.Flatten(y)
		}, r)
		x, y := upload(t, e, xd, shape...), newT(t, e, shape[0], shape[1])
		if err := e.GlobalAvgPool(x, y); err != nil {
			t.Fatal(err)
		}
		closeTo(t, "y", host(t, e, y), want, 1e-6)
		dy, dx := upload(t, e, r, shape[0], shape[1]), newT(t, e, shape...)
		if err := e.GlobalAvgPoolBackward(dy, dx); err != nil {
			t.Fatal(err)
		}
		closeTo(t, "dx", host(t, e, dx), grads[0], 1e-6)
	})

	t.Run("Linear", func(t *testing.T) {
		const n, in, out = 5, 7, 3
		xd, wd, bd, r := randSlice(rng, n*in, 1), randSlice(rng, out*in, 1), randSlice(rng, out, 1), randSlice(rng, n*out, 1)
		want, grads := nnEval(t, true, []nnIn{{[]int{n, in}, xd, true}, {[]int{out, in}, wd, true}, {[]int{out}, bd, true}}, func(_ *nn.Graph, in []*G.Node) (*G.Node, error) {
			return nn.Linear(in[0], in[1], in[2])
		}, r)
		x, w, b, y := upload(t, e, xd, n, in), upload(t, e, wd, out, in), upload(t, e, bd, out), newT(t, e, n, out)
		if err := e.Linear(x, w, b, y); err != nil {
			t.Fatal(err)
		}
		closeTo(t, "y", host(t, e, y), want, max(rtol, 1e-6))
		dy, dx, dw, db := upload(t, e, r, n, out), newT(t, e, n, in), newT(t, e, out, in), newT(t, e, out)
		if err := e.LinearBackward(x, w, dy, dx, dw, db); err != nil {
			t.Fatal(err)
		}
		closeTo(t, "dx", host(t, e, dx), grads[0], max(rtol, 1e-6))
		closeTo(t, "dw", host(t, e, dw), grads[1], max(rtol, 1e-6))
		closeTo(t, "db", host(t, e, db), grads[2], max(rtol, 1e-6))
	})

	t.Run("Adam", func(t *testing.T) {
		const n = 300
		p := nn.NewParam("p", n)
		copy(p.Data(), randSlice(rng, n, 1))
		opt := nn.NewAdam(0.01)
		opt.WeightDecay = 0.01
		pt := upload(t, e, p.Data(), n)
		g, m, v := newT(t, e, n), newT(t, e, n), newT(t, e, n)
		for step := int64(1); step <= 3; step++ {
			gd := randSlice(rng, n, 1)
			if err := opt.StepSlices([]*nn.Param{p}, [][]float32{gd}); err != nil {
				t.Fatal(err)
			}
			if err := e.Upload(g, gd); err != nil {
				t.Fatal(err)
			}
			hs := AdamStep{LR: opt.LR, Beta1: opt.Beta1, Beta2: opt.Beta2, Eps: opt.Eps, WeightDecay: opt.WeightDecay, Step: step}
			if err := e.Adam(pt, g, m, v, hs); err != nil {
				t.Fatal(err)
			}
		}
		// The kernel and the host engine follow nn.Adam operation by
		// operation; only Go's own fused multiply-adds (arm64) could differ.
		closeTo(t, "p", host(t, e, pt), p.Data(), max(rtol, 1e-6))
		st := opt.State()
		closeTo(t, "exp_avg", host(t, e, m), st["p.exp_avg"].Data().([]float32), max(rtol, 1e-6))
		closeTo(t, "exp_avg_sq", host(t, e, v), st["p.exp_avg_sq"].Data().([]float32), max(rtol, 1e-6))
	})

	// SGD follows nn.SGD operation by operation (float32 multiplies and
	// fused multiply-adds, each rounded once), so every engine matches it
	// bit for bit, over every combination of its options and steps past
	// the first (which sets the momentum buffer).
	t.Run("SGD", func(t *testing.T) {
		const n = 300
		for _, mom := range []float64{0, 0.9} {
			for _, damp := range []float64{0, 0.3} {
				for _, wd := range []float64{0, 0.01} {
					for _, nesterov := range []bool{false, true} {
						opt := &nn.SGD{LR: 0.05, Momentum: mom, Dampening: damp, WeightDecay: wd, Nesterov: nesterov}
						if nesterov && (mom == 0 || damp != 0) {
							continue // nn.SGD refuses it, as does the engine
						}
						name := fmt.Sprintf("momentum %v dampening %v decay %v nesterov %v", mom, damp, wd, nesterov)
						p := nn.NewParam("p", n)
						copy(p.Data(), randSlice(rng, n, 1))
						pt, g := upload(t, e, p.Data(), n), newT(t, e, n)
						var buf *Tensor
						if mom != 0 {
							buf = newT(t, e, n)
						}
						for step := range 3 {
							gd := randSlice(rng, n, 1)
							if err := opt.StepSlices([]*nn.Param{p}, [][]float32{gd}); err != nil {
								t.Fatal(err)
							}
							if err := e.Upload(g, gd); err != nil {
								t.Fatal(err)
							}
							s := SGDStep{LR: opt.LR, Momentum: mom, Dampening: damp, WeightDecay: wd, Nesterov: nesterov, First: step == 0}
							if err := e.SGD(pt, g, buf, s); err != nil {
								t.Fatal(err)
							}
							sameBits(t, fmt.Sprintf("%s step %d: p", name, step+1), host(t, e, pt), p.Data())
							if mom != 0 {
								sameBits(t, fmt.Sprintf("%s step %d: momentum_buffer", name, step+1), host(t, e, buf), opt.State()["p.momentum_buffer"].Data().([]float32))
							}
						}
					}
				}
			}
		}
	})

	t.Run("AllFinite", func(t *testing.T) {
		x := upload(t, e, randSlice(rng, 1000, 1), 1000)
		if ok, err := e.AllFinite(x); err != nil || !ok {
			t.Fatalf("AllFinite = %v, %v on finite values", ok, err)
		}
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
			part, _ := x.View(777, 1)
			if err := e.Upload(part, []float32{bad}); err != nil {
				t.Fatal(err)
			}
			if ok, err := e.AllFinite(x); err != nil || ok {
				t.Errorf("AllFinite = %v, %v with %v", ok, err, bad)
			}
		}
	})
}
