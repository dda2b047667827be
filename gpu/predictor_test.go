package gpu

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// testPredictor checks a Predictor of m on e against the CPU's
// evaluation graph on 7 clips of shape clip, 3 at a time, within rtol,
// after moving every batch norm's running statistics away from 0 and 1.
func testPredictor(t *testing.T, e *Engine, m nn.Module, clip [4]int, rtol float64) {
	t.Helper()
	ctx := context.Background()
	const n, clips = 3, 7
	rng := rand.New(rand.NewPCG(4, 4))
	for _, p := range m.Params() {
		switch {
		case strings.HasSuffix(p.Name, "running_mean"):
			copy(p.Data(), randSlice(rng, len(p.Data()), 0.2))
		case strings.HasSuffix(p.Name, "running_var"):
			for i := range p.Data() {
				p.Data()[i] = float32(0.5 + rng.Float64())
			}
		}
	}
	pr, err := NewPredictor(e, m, [5]int{n, clip[0], clip[1], clip[2], clip[3]})
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	x := randSlice(rng, clips*clip[0]*clip[1]*clip[2]*clip[3], 1)
	got := make([]float32, clips*pr.OutputLen())
	if err := pr.Predict(ctx, x, got); err != nil {
		t.Fatal(err)
	}
	closeTo(t, "outputs", got, cpuEval(t, m, x, clips, clip[:]...), rtol)
	if err := pr.Predict(ctx, x[:10], got[:1]); err == nil || !strings.Contains(err.Error(), "values per clip") {
		t.Errorf("Predict with a short clip: %v", err)
	}
}

// cpuEval returns m's evaluation-mode outputs on the CPU for the clips of
// x, of the given shape.
func cpuEval(t *testing.T, m nn.Module, x []float32, clips int, clip ...int) []float32 {
	t.Helper()
	g := nn.NewGraph(false, nil)
	xn := g.Input("x", append([]int{clips}, clip...)...)
	out, err := m.Forward(g, xn)
	if err != nil {
		t.Fatal(err)
	}
	prog := nn.NewEvaluator(g)
	defer prog.Close()
	if _, err := prog.Run(context.Background(), nn.Feed{Node: xn, Data: x}); err != nil {
		t.Fatal(err)
	}
	return values(t, out.Value())
}

// TestPredictorMatchesCPU: evaluation-mode outputs of R(2+1)D, MC3, a
// feature encoder (no fc: 32 values per clip) and the user-defined model
// through a Predictor on the host engine, against the CPU's (1e-5).
func TestPredictorMatchesCPU(t *testing.T) {
	for _, cfg := range []resnet3d.Config{resnet3d.R2Plus1D18(1), resnet3d.MC3_18(1), resnet3d.R3D18(0)} {
		cfg.Width, cfg.Blocks = 4, [4]int{1, 1, 1, 1}
		m, err := resnet3d.New(cfg, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(cfg.Stem.String()+"/"+cfg.Convs[3].String(), func(t *testing.T) {
			testPredictor(t, NewHostEngine(), m, [4]int{3, 4, 20, 20}, 1e-5)
		})
	}
	t.Run("user model", func(t *testing.T) { testPredictor(t, NewHostEngine(), newUserModel(1), [4]int{2, 4, 8, 8}, 1e-5) })
	// Dropout, which a Trainer refuses, does nothing in evaluation mode.
	withDropout := newUserModel(1)
	withDropout.Dropout = true
	t.Run("user model with dropout", func(t *testing.T) { testPredictor(t, NewHostEngine(), withDropout, [4]int{2, 4, 8, 8}, 1e-5) })
}

// TestPredictorMemory: a Predictor holds the parameters, the running
// statistics and activations that share memory after their last reader:
// less than half of what a Trainer of the same batch holds.
func TestPredictorMemory(t *testing.T) {
	cfg := resnet3d.Config{InChannels: 3, Width: 8, Blocks: [4]int{2, 2, 2, 2}, NumClasses: 1}
	m, _ := resnet3d.New(cfg, rand.New(rand.NewPCG(1, 1)))
	batch := [5]int{2, 3, 8, 32, 32}
	size := func(nt *net) int {
		s := 0
		for _, t := range nt.owned {
			s += t.Len()
		}
		return s
	}
	tr, err := NewTrainer(NewHostEngine(), m, batch, 1, nn.NewAdam(1e-3))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	pr, err := NewPredictor(NewHostEngine(), m, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	ts, ps := size(tr.net), size(pr.nt)
	t.Logf("trainer %d floats, predictor %d", ts, ps)
	if 2*ps >= ts {
		t.Errorf("predictor holds %d floats, trainer %d: want less than half", ps, ts)
	}
}
