package nn

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/golden"
)

// optimGoldenSteps is the number of steps make_golden.py runs.
const optimGoldenSteps = 6

// optimParamNames are the Params of make_golden.py, in its order.
var optimParamNames = []string{"w", "b", "tiny"}

// optimTol compares Go's float32 results with PyTorch's within 1e-6 relative.
var optimTol = cmpopts.EquateApprox(1e-6, 1e-12)

func loadOptimGolden(t *testing.T) map[string]golden.Tensor {
	t.Helper()
	gt, err := golden.Load(filepath.Join("testdata", "optim", "optim.json"))
	if err != nil {
		t.Fatal(err)
	}
	return gt
}

// optimGoldenParams returns fresh Params holding make_golden.py's initial values.
func optimGoldenParams(t *testing.T, gt map[string]golden.Tensor) []*Param {
	t.Helper()
	var ps []*Param
	for _, name := range optimParamNames {
		g := gt["init."+name]
		p := NewParam(name, g.Shape...)
		copy(p.Data(), g.Float32())
		ps = append(ps, p)
	}
	return ps
}

// optimFromGolden builds the optimiser of configuration cfg.
func optimFromGolden(t *testing.T, gt map[string]golden.Tensor, cfg string) Optimizer {
	t.Helper()
	hp := func(k string) float64 {
		v, ok := gt[cfg+".hp."+k]
		if !ok || len(v.Data) != 1 {
			t.Fatalf("golden has no %s.hp.%s", cfg, k)
		}
		return v.Data[0]
	}
	if strings.HasPrefix(cfg, "adam") {
		a := NewAdam(hp("lr"))
		a.Beta1, a.Beta2, a.Eps, a.WeightDecay = hp("beta1"), hp("beta2"), hp("eps"), hp("weight_decay")
		return a
	}
	return &SGD{LR: hp("lr"), Momentum: hp("momentum"), Dampening: hp("dampening"),
		WeightDecay: hp("weight_decay"), Nesterov: hp("nesterov") != 0}
}

// optimGoldenStep runs step s of the golden sequence, through Step with
// gorgonia tensors on even steps and StepSlices on odd ones.
func optimGoldenStep(t *testing.T, gt map[string]golden.Tensor, opt Optimizer, ps []*Param, s int) {
	t.Helper()
	var err error
	if s%2 == 0 {
		var gs []G.Value
		for _, p := range ps {
			g := gt[fmt.Sprintf("grad.%d.%s", s, p.Name)]
			gs = append(gs, tensor.New(tensor.WithShape(g.Shape...), tensor.WithBacking(g.Float32())))
		}
		err = opt.Step(ps, gs)
	} else {
		var gs [][]float32
		for _, p := range ps {
			gs = append(gs, gt[fmt.Sprintf("grad.%d.%s", s, p.Name)].Float32())
		}
		err = opt.StepSlices(ps, gs)
	}
	if err != nil {
		t.Fatalf("step %d: %v", s, err)
	}
}

func optimGoldenConfigs(gt map[string]golden.Tensor) []string {
	var cfgs []string
	for k := range gt {
		if cfg, ok := strings.CutSuffix(k, ".hp.lr"); ok {
			cfgs = append(cfgs, cfg)
		}
	}
	return cfgs
}

func TestOptimGolden(t *testing.T) {
	gt := loadOptimGolden(t)
	cfgs := optimGoldenConfigs(gt)
	if len(cfgs) < 7 {
		t.Fatalf("golden has %d configurations: %v", len(cfgs), cfgs)
	}
	for _, cfg := range cfgs {
		t.Run(cfg, func(t *testing.T) {
			ps := optimGoldenParams(t, gt)
			opt := optimFromGolden(t, gt, cfg)
			for s := range optimGoldenSteps {
				optimGoldenStep(t, gt, opt, ps, s)
				for _, p := range ps {
					want := gt[fmt.Sprintf("%s.%d.%s", cfg, s, p.Name)].Float32()
					if diff := cmp.Diff(want, p.Data(), optimTol); diff != "" {
						t.Fatalf("step %d: %s differs from PyTorch (-want +got):\n%s", s, p.Name, diff)
					}
				}
			}
			// The state matches PyTorch's optimizer state, under our names.
			st := opt.State()
			wantKeys := 0
			for k, g := range gt {
				name, ok := strings.CutPrefix(k, cfg+".state.")
				if !ok {
					continue
				}
				wantKeys++
				got, ok := st[name]
				if !ok {
					t.Errorf("State has no %q; has %v", name, sortedKeys(st))
					continue
				}
				d, shape, err := denseFloat32s(got)
				if err != nil {
					t.Fatal(err)
				}
				if !sameStateShape(shape, g.Shape) {
					t.Errorf("State %q has shape %v, PyTorch %v", name, shape, g.Shape)
				}
				if diff := cmp.Diff(g.Float32(), d, optimTol); diff != "" {
					t.Errorf("State %q differs from PyTorch (-want +got):\n%s", name, diff)
				}
			}
			if len(st) != wantKeys {
				t.Errorf("State has %d entries %v, PyTorch %d", len(st), sortedKeys(st), wantKeys)
			}
		})
	}
}

// TestOptimResumeCheckpoint stops after three steps, saves Params and
// optimiser state to a checkpoint, loads both into new objects, and checks
// that the resumed run is bit-identical to an uninterrupted one.
func TestOptimResumeCheckpoint(t *testing.T) {
	gt := loadOptimGolden(t)
	for _, cfg := range optimGoldenConfigs(gt) {
		t.Run(cfg, func(t *testing.T) {
			ps := optimGoldenParams(t, gt)
			opt := optimFromGolden(t, gt, cfg)
			for s := range 3 {
				optimGoldenStep(t, gt, opt, ps, s)
			}
			tensors, err := ParamTensors(ps)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range WithPrefix("optim.", opt.State()) {
				tensors[k] = v
			}
			path := filepath.Join(t.TempDir(), "ckpt.safetensors")
			if err := SaveCheckpoint(path, tensors, map[string]string{"step": "3"}); err != nil {
				t.Fatal(err)
			}
			for s := 3; s < optimGoldenSteps; s++ {
				optimGoldenStep(t, gt, opt, ps, s)
			}

			ck, err := LoadCheckpoint(path)
			if err != nil {
				t.Fatal(err)
			}
			ps2 := optimGoldenParams(t, gt)
			for _, p := range ps2 {
				copy(p.Data(), []float32{99})
			}
			optState, model := SplitPrefix("optim.", ck.Tensors)
			if rep, err := ApplyState(ps2, model, true); err != nil {
				t.Fatalf("%v (%v)", err, rep)
			}
			opt2 := optimFromGolden(t, gt, cfg)
			if err := opt2.SetState(optState); err != nil {
				t.Fatal(err)
			}
			for s := 3; s < optimGoldenSteps; s++ {
				optimGoldenStep(t, gt, opt2, ps2, s)
			}
			for i := range ps {
				if diff := cmp.Diff(ps[i].Data(), ps2[i].Data()); diff != "" {
					t.Errorf("%s: resumed run differs (-straight +resumed):\n%s", ps[i].Name, diff)
				}
			}
		})
	}
}

func TestOptimErrors(t *testing.T) {
	newPs := func() []*Param {
		w := NewParam("w", 2, 3)
		b := NewParam("b", 3)
		rm := NewBuffer("bn.running_mean", 3)
		return []*Param{w, rm, b}
	}
	good := func() []G.Value {
		return []G.Value{
			tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6})),
			nil, // buffers need no gradient
			tensor.New(tensor.WithShape(3), tensor.WithBacking([]float32{1, 2, 3})),
		}
	}
	for _, opt := range []Optimizer{NewAdam(1e-3), NewSGD(0.1, 0.9)} {
		name := fmt.Sprintf("%T", opt)
		ps := newPs()
		if err := opt.Step(ps, good()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := ps[1].Data(); got[0] != 0 {
			t.Errorf("%s updated a buffer: %v", name, got)
		}
		before := [][]float32{append([]float32(nil), ps[0].Data()...), append([]float32(nil), ps[2].Data()...)}
		state := opt.State()

		cases := []struct {
			what  string
			grads func() []G.Value
			want  string
		}{
			{"count", func() []G.Value { return good()[:2] }, "2 gradients for 3 Params"},
			{"nil", func() []G.Value { g := good(); g[2] = nil; return g }, `gradient of "b" is nil`},
			{"shape", func() []G.Value {
				g := good()
				g[0] = tensor.New(tensor.WithShape(3, 2), tensor.WithBacking(make([]float32, 6)))
				return g
			}, `gradient of "w" has shape [3 2], the Param [2 3]`},
			{"dtype", func() []G.Value {
				g := good()
				g[2] = tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{1, 2, 3}))
				return g
			}, `gradient of "b": dtype float64`},
			{"nan", func() []G.Value {
				g := good()
				g[2].Data().([]float32)[1] = float32(math.NaN())
				return g
			}, `gradient of "b" has NaN at index 1; no Param was updated`},
			{"inf", func() []G.Value {
				g := good()
				g[0].Data().([]float32)[5] = float32(math.Inf(-1))
				return g
			}, `gradient of "w" has -Inf at index 5`},
		}
		for _, c := range cases {
			err := opt.Step(ps, c.grads())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %s: error %v, want %q", name, c.what, err, c.want)
			}
		}
		// A NaN in the last Param must leave the first untouched too.
		if diff := cmp.Diff(before, [][]float32{ps[0].Data(), ps[2].Data()}); diff != "" {
			t.Errorf("%s: a failed Step changed Params:\n%s", name, diff)
		}
		if diff := cmp.Diff(tensorsData(t, state), tensorsData(t, opt.State())); diff != "" {
			t.Errorf("%s: a failed Step changed the state:\n%s", name, diff)
		}
		dup := newPs()
		dup[2].Name = "w"
		dup[2].Value = tensor.New(tensor.WithShape(2, 3), tensor.Of(tensor.Float32))
		g := good()
		g[2] = g[0]
		if err := opt.Step(dup, g); err == nil || !strings.Contains(err.Error(), `"w" appears twice`) {
			t.Errorf("%s duplicate names: %v", name, err)
		}
		if err := opt.StepSlices(ps, [][]float32{{1, 2, 3, 4, 5, 6}, nil, {1, 2}}); err == nil || !strings.Contains(err.Error(), `gradient of "b" has 2 elements`) {
			t.Errorf("%s short slice: %v", name, err)
		}
		// State of the wrong size for a Param of the same name.
		other := []*Param{NewParam("w", 4), NewParam("b", 3)}
		if err := opt.StepSlices(other, [][]float32{{1, 2, 3, 4}, {1, 2, 3}}); err == nil || !strings.Contains(err.Error(), `"w" has 6 elements`) {
			t.Errorf("%s state size: %v", name, err)
		}
	}
	if err := (&Adam{LR: 1e-3, Beta1: 1, Beta2: 0.999}).StepSlices(nil, nil); err == nil || !strings.Contains(err.Error(), "beta1") {
		t.Errorf("Adam beta1 = 1: %v", err)
	}
	if err := (&SGD{LR: 0.1, Nesterov: true}).StepSlices(nil, nil); err == nil || !strings.Contains(err.Error(), "Nesterov") {
		t.Errorf("SGD Nesterov without momentum: %v", err)
	}
	if err := NewAdam(math.NaN()).StepSlices(nil, nil); err == nil || !strings.Contains(err.Error(), "learning rate") {
		t.Errorf("Adam NaN learning rate: %v", err)
	}
}

func TestOptimSetStateErrors(t *testing.T) {
	vec := func(v ...float32) *tensor.Dense { return tensor.New(tensor.WithShape(len(v)), tensor.WithBacking(v)) }
	scalar := func(v float32) *tensor.Dense { return tensor.New(tensor.WithShape(), tensor.WithBacking([]float32{v})) }
	cases := []struct {
		state map[string]*tensor.Dense
		want  string
	}{
		{map[string]*tensor.Dense{"w.exp_avg": vec(1), "w.exp_avg_sq": vec(1)}, `"w" needs exp_avg, exp_avg_sq and step`},
		{map[string]*tensor.Dense{"w.exp_avg": vec(1), "w.exp_avg_sq": vec(1), "w.step": scalar(0)}, "one positive integer"},
		{map[string]*tensor.Dense{"w.exp_avg": vec(1), "w.exp_avg_sq": vec(1), "w.step": scalar(1.5)}, "one positive integer"},
		{map[string]*tensor.Dense{"w.exp_avg": vec(1, 2), "w.exp_avg_sq": vec(1), "w.step": scalar(1)}, "exp_avg has 2 elements, exp_avg_sq 1"},
		{map[string]*tensor.Dense{"w.momentum_buffer": vec(1)}, `unknown entry "w.momentum_buffer"`},
		{map[string]*tensor.Dense{"w.exp_avg": nil}, "tensor is nil"},
	}
	for _, c := range cases {
		a := NewAdam(1e-3)
		if err := a.SetState(c.state); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Adam.SetState(%v): %v, want %q", sortedKeys(c.state), err, c.want)
		}
	}
	s := NewSGD(0.1, 0.9)
	if err := s.SetState(map[string]*tensor.Dense{"w.exp_avg": vec(1)}); err == nil || !strings.Contains(err.Error(), "unknown entry") {
		t.Errorf("SGD.SetState: %v", err)
	}
	if err := s.SetState(map[string]*tensor.Dense{"w.momentum_buffer": vec(1, 2)}); err != nil {
		t.Fatal(err)
	}
	s.Reset()
	if len(s.State()) != 0 {
		t.Errorf("state after Reset: %v", s.State())
	}
}

// TestOptimGraph trains one Param bound into a gorgonia graph.
func TestOptimGraph(t *testing.T) {
	for _, opt := range []Optimizer{NewAdam(0.1), &SGD{LR: 0.1, Momentum: 0.5, Nesterov: true}} {
		w := NewParam("w", 3)
		g := NewGraph(true, nil)
		target := G.NewTensor(g.Exp, tensor.Float32, 1, G.WithShape(3), G.WithName("target"),
			G.WithValue(tensor.New(tensor.WithShape(3), tensor.WithBacking([]float32{1, -2, 0.5}))))
		diff := G.Must(G.Sub(g.Bind(w), target))
		loss := G.Must(G.Sum(G.Must(G.Square(diff))))
		ps, nodes := g.Learnables()
		grads, err := G.Grad(loss, nodes...)
		if err != nil {
			t.Fatal(err)
		}
		m := G.NewTapeMachine(g.Exp)
		var first, last float32
		for i := range 100 {
			if err := m.RunAll(); err != nil {
				t.Fatal(err)
			}
			l, err := ScalarValue(loss.Value())
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = l
			}
			last = l
			if err := opt.Step(ps, GradValues(grads)); err != nil {
				t.Fatal(err)
			}
			m.Reset()
		}
		m.Close()
		if !(last < first/100) {
			t.Errorf("%T: loss %v -> %v, want a hundredfold decrease", opt, first, last)
		}
	}
}

func tensorsData(t *testing.T, m map[string]*tensor.Dense) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for k, v := range m {
		d, _, err := denseFloat32s(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = d
	}
	return out
}

// BenchmarkAdamStep times Adam on a Param of 4M values, without weight
// decay (the vectorised loop) and with it (plain Go).
func BenchmarkAdamStep(b *testing.B) {
	for _, wd := range []float64{0, 1e-4} {
		b.Run(fmt.Sprintf("wd=%g", wd), func(b *testing.B) {
			p := NewParam("w", 1<<22)
			g := make([]float32, 1<<22)
			for i := range g {
				g[i] = float32(i%7) - 3
			}
			a := NewAdam(1e-3)
			a.WeightDecay = wd
			b.SetBytes(4 << 22)
			for b.Loop() {
				if err := a.StepSlices([]*Param{p}, [][]float32{g}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOptimParallel checks that the parallel update of a large Param equals
// the same update done element by element on small Params, and that a
// non-finite value deep in a large gradient is found.
func TestOptimParallel(t *testing.T) {
	const n = 3*optimGrain + 17
	g := make([]float32, n)
	init := make([]float32, n)
	for i := range g {
		g[i] = float32(math.Sin(float64(i))) * 3
		init[i] = float32(math.Cos(float64(i)))
	}
	for _, mk := range []func() Optimizer{
		func() Optimizer { a := NewAdam(0.01); a.WeightDecay = 0.1; return a },
		func() Optimizer { return &SGD{LR: 0.1, Momentum: 0.9, WeightDecay: 0.01, Nesterov: true} },
	} {
		big := NewParam("big", n)
		copy(big.Data(), init)
		opt := mk()
		// Small Params: every 997th element on its own.
		var small []*Param
		var sg [][]float32
		for i := 0; i < n; i += 997 {
			p := NewParam(fmt.Sprintf("e%d", i), 1)
			p.Data()[0] = init[i]
			small = append(small, p)
			sg = append(sg, g[i:i+1])
		}
		ref := mk()
		for range 3 {
			if err := opt.StepSlices([]*Param{big}, [][]float32{g}); err != nil {
				t.Fatal(err)
			}
			if err := ref.StepSlices(small, sg); err != nil {
				t.Fatal(err)
			}
		}
		for k, p := range small {
			if got, want := big.Data()[k*997], p.Data()[0]; got != want {
				t.Fatalf("%T: element %d = %v, alone %v", opt, k*997, got, want)
			}
		}
		bad := append([]float32(nil), g...)
		bad[n-2] = float32(math.Inf(1))
		before := append([]float32(nil), big.Data()...)
		if err := opt.StepSlices([]*Param{big}, [][]float32{bad}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("+Inf at index %d", n-2)) {
			t.Errorf("%T: Inf in a large gradient: %v", opt, err)
		}
		if diff := cmp.Diff(before, big.Data()); diff != "" {
			t.Errorf("%T: failed step changed the Param", opt)
		}
	}
}
