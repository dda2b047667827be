package pretrain

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/gpu"
)

// TestOrderWarmup: in the warm-up epochs the loss is the frame-order loss
// alone and the projection head does not move; after it the loss is both;
// the CPU and gpu's host engine (whose trainer takes the weights with each
// step, and so runs on across the switch) agree; and a run stopped at the switch resumes into the same second
// epoch.
func TestOrderWarmup(t *testing.T) {
	ctx := context.Background()
	m := testData(t)
	cfg := tinyConfig(MISimCLRFO)
	cfg.Epochs = 2
	cfg.OrderWarmupEpochs = 1
	cfg.CheckpointEvery = 1
	cfg.LR = 1e-3
	var hist [2][]EpochStats
	for i, e := range []*gpu.Engine{nil, gpu.NewHostEngine()} {
		cfg.Engine = e
		res, err := Run(ctx, cfg, m, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		h := res.History
		if len(h) != 2 {
			t.Fatalf("engine %d: %d epochs", i, len(h))
		}
		t.Logf("engine %d: epoch 1 loss %.6f (NT-Xent %.6f, order %.6f), epoch 2 loss %.6f (NT-Xent %.6f, order %.6f)", i, h[0].Loss, h[0].NTXent, h[0].Order, h[1].Loss, h[1].NTXent, h[1].Order)
		if w := cfg.OrderWeight * h[0].Order; math.Abs(h[0].Loss-w) > 1e-5*w {
			t.Errorf("engine %d: warm-up loss %v, want the order loss alone %v", i, h[0].Loss, w)
		}
		if w := cfg.ContrastiveWeight*h[1].NTXent + cfg.OrderWeight*h[1].Order; math.Abs(h[1].Loss-w) > 1e-5*w {
			t.Errorf("engine %d: epoch 2 loss %v, want both losses %v", i, h[1].Loss, w)
		}
		hist[i] = h
	}
	for k := range 2 {
		if c, d := hist[0][k].Loss, hist[1][k].Loss; math.Abs(c-d) > 1e-4*c {
			t.Errorf("epoch %d: loss %v on the CPU, %v on the host engine", k+1, c, d)
		}
	}

	// One warm-up epoch leaves the projection head as it was made.
	cfg.Engine, cfg.Epochs = nil, 1
	dir := t.TempDir()
	res, err := Run(ctx, cfg, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := NewModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range res.Model.Projector.Params() {
		if q := fresh.Projector.Params()[i]; !slices.Equal(p.Data(), q.Data()) {
			t.Errorf("%s moved in the warm-up", p.Name)
		}
	}
	// Resumed from there, the second epoch is the one-go run's.
	cfg.Epochs = 2
	res, err = Run(ctx, cfg, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedFrom == "" || len(res.History) != 2 || math.Abs(res.History[1].Loss-hist[0][1].Loss) > 1e-6*hist[0][1].Loss {
		t.Errorf("resumed after the warm-up from %q: history %+v, want epoch 2's loss %v", res.ResumedFrom, res.History, hist[0][1].Loss)
	}
}

// TestOrderWarmupConfig: the warm-up needs a frame-order loss and at most
// Epochs epochs, and 0 leaves a run's identity as before the field existed.
func TestOrderWarmupConfig(t *testing.T) {
	cfg := tinyConfig(MISimCLRFO)
	off := identityWithout(t, cfg, "OrderWarmup")
	cfg.OrderWarmupEpochs = 2
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if on, _ := cfg.identity(nil); on == off {
		t.Error("identity does not change with OrderWarmupEpochs")
	}
	for name, mod := range map[string]func(*Config){
		"negative":    func(c *Config) { c.OrderWarmupEpochs = -1 },
		"past Epochs": func(c *Config) { c.OrderWarmupEpochs = c.Epochs + 1 },
		"no order":    func(c *Config) { c.Method = MISimCLR },
		"zero weight": func(c *Config) { c.OrderWeight = 0 },
	} {
		c := cfg
		mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "OrderWarmupEpochs") {
			t.Errorf("%s: error %v, want one naming OrderWarmupEpochs", name, err)
		}
	}
	cfg.OrderWarmupAccuracy = 0.2
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if acc, _ := cfg.identity(nil); acc == off || !strings.Contains(acc, "OrderWarmupAccuracy") {
		t.Errorf("identity does not name OrderWarmupAccuracy: %s", acc)
	}
	for name, mod := range map[string]func(*Config){
		"accuracy 1":         func(c *Config) { c.OrderWarmupAccuracy = 1 },
		"negative accuracy":  func(c *Config) { c.OrderWarmupAccuracy = -0.1 },
		"NaN accuracy":       func(c *Config) { c.OrderWarmupAccuracy = math.NaN() },
		"accuracy, no epoch": func(c *Config) { c.OrderWarmupEpochs = 0 },
	} {
		c := cfg
		mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "OrderWarmupAccuracy") {
			t.Errorf("%s: error %v, want one naming OrderWarmupAccuracy", name, err)
		}
	}
}

// TestOrderWarmupAccuracy: the warm-up ends after the first epoch whose
// training order accuracy reaches OrderWarmupAccuracy, and lasts
// OrderWarmupEpochs when none does.
func TestOrderWarmupAccuracy(t *testing.T) {
	c := tinyConfig(MISimCLRFO)
	c.ContrastiveWeight, c.OrderWarmupEpochs, c.OrderWarmupAccuracy = 2, 3, 0.3
	for _, tc := range []struct {
		epoch  int
		before []float64
		want   float64
	}{
		{1, nil, 0},
		{2, []float64{0.29}, 0},
		{2, []float64{0.3}, 2},
		{3, []float64{0.31, 0.1}, 2}, // once ended, it stays ended
		{3, []float64{0.1, 0.2}, 0},
		{4, []float64{0.1, 0.2, 0.2}, 2}, // the longest warm-up
	} {
		var h []EpochStats
		for _, a := range tc.before {
			h = append(h, EpochStats{OrderAccuracy: a})
		}
		if got := c.contrastiveWeight(tc.epoch, h); got != tc.want {
			t.Errorf("epoch %d after accuracies %v: NT-Xent weight %v, want %v", tc.epoch, tc.before, got, tc.want)
		}
	}

	// A run: with a threshold that the first epoch reaches, NT-Xent joins
	// in epoch 2; with one no epoch reaches, the warm-up lasts all 3.
	ctx := context.Background()
	m := testData(t)
	cfg := tinyConfig(MISimCLRFO)
	cfg.Epochs, cfg.OrderWarmupEpochs, cfg.LR = 3, 3, 1e-3
	cfg.OrderWarmupAccuracy = 0.999
	res, err := Run(ctx, cfg, m, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.History {
		if w := cfg.OrderWeight * h.Order; math.Abs(h.Loss-w) > 1e-5*w {
			t.Errorf("epoch %d: loss %v, want the order loss alone %v (accuracy %v never reached)", h.Epoch, h.Loss, w, cfg.OrderWarmupAccuracy)
		}
	}
	first := res.History[0].OrderAccuracy
	if first == 0 {
		t.Skip("the first epoch's order accuracy is 0 here; no threshold it reaches")
	}
	cfg.OrderWarmupAccuracy = first
	res, err = Run(ctx, cfg, m, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := res.History
	if w := cfg.OrderWeight * h[0].Order; math.Abs(h[0].Loss-w) > 1e-5*w {
		t.Errorf("epoch 1: loss %v, want the order loss alone %v", h[0].Loss, w)
	}
	for _, e := range h[1:] {
		if w := cfg.ContrastiveWeight*e.NTXent + cfg.OrderWeight*e.Order; math.Abs(e.Loss-w) > 1e-5*w {
			t.Errorf("epoch %d: loss %v, want both losses %v (accuracy %v reached in epoch 1)", e.Epoch, e.Loss, w, first)
		}
	}
}
