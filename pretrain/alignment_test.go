package pretrain

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vidssl/vidssl/video"
)

func TestCompareGradients(t *testing.T) {
	a := map[string][]float64{"x": {1, 0}, "y": {0, 2}}
	b := map[string][]float64{"x": {1, 0}, "y": {0, -2}}
	// dot 1 - 4 = -3, both norms sqrt(5).
	if got, want := compareGradients(a, b, []string{"x", "y"}), (LayerAlignment{Cosine: -0.6, Ratio: 1}); math.Abs(got.Cosine-want.Cosine) > 1e-12 || math.Abs(got.Ratio-want.Ratio) > 1e-12 {
		t.Errorf("x and y: %+v, want %+v", got, want)
	}
	if got := compareGradients(a, b, []string{"y"}); math.Abs(got.Cosine+1) > 1e-12 || got.Ratio != 1 {
		t.Errorf("y alone: %+v, want cosine -1, ratio 1", got)
	}
	b["x"] = []float64{4, 0}
	if got := compareGradients(a, b, []string{"x"}); got.Cosine != 1 || got.Ratio != 0.25 {
		t.Errorf("x, b 4 times a: %+v, want cosine 1, ratio 0.25", got)
	}
	zero := map[string][]float64{"x": {0, 0}}
	if got := compareGradients(a, zero, []string{"x"}); got != (LayerAlignment{}) {
		t.Errorf("against a zero gradient: %+v, want zeros", got)
	}
}

func TestMeasureAlignment(t *testing.T) {
	m := testData(t)
	cfg := tinyConfig(MISimCLRFO)
	model, err := NewModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	before, err := model.State()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := MeasureAlignment(ctx, model, cfg, m, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("at initialisation: %v", a)
	after, err := model.State()
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range before {
		if !cmp.Equal(v.Data(), after[name].Data()) {
			t.Errorf("%s changed", name)
		}
	}
	if a.Batches != 4 {
		t.Errorf("Batches = %d, want 4", a.Batches)
	}
	// At initialisation the order head knows nothing: about ln 24.
	if math.Abs(a.Order-math.Log(24)) > 0.3 || !(a.NTXent > 0) {
		t.Errorf("losses NT-Xent %v, order %v; want order about ln 24 = 3.18", a.NTXent, a.Order)
	}
	for _, c := range []float64{a.Cosine, a.NTXentConsistency, a.OrderConsistency} {
		if !(math.Abs(c) <= 1) || c == 0 {
			t.Errorf("cosine %v, want in [-1, 1] and not 0", c)
		}
	}
	if !(a.Ratio > 0) {
		t.Errorf("Ratio = %v, want > 0", a.Ratio)
	}
	var names []string
	for _, l := range a.Layers {
		names = append(names, l.Name)
		if !(math.Abs(l.Cosine) <= 1) || !(l.Ratio > 0) {
			t.Errorf("layer %s: %+v", l.Name, l)
		}
	}
	if want := []string{"stem", "layer1", "layer2", "layer3", "layer4"}; !cmp.Equal(names, want) {
		t.Errorf("layers %v, want %v", names, want)
	}
	if s := a.String(); !strings.Contains(s, "4 batches") || strings.Count(s, "\n") != 5 {
		t.Errorf("String:\n%s", s)
	}
	again, err := MeasureAlignment(ctx, model, cfg, m, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(a, again) {
		t.Errorf("a second measurement differs: %v\nagainst %v", again, a)
	}
	// More batches than the epoch has: all of them.
	plan, err := PlanRun(cfg, m)
	if err != nil {
		t.Fatal(err)
	}
	if all, err := MeasureAlignment(ctx, model, cfg, m, 2, 1000); err != nil || all.Batches != plan.StepsPerEpoch {
		t.Errorf("1000 batches: %d measured, %v; want the epoch's %d", all.Batches, err, plan.StepsPerEpoch)
	}
}

// TestMeasureAlignmentTinyFrames: 4x4 frames, smaller than the encoder's
// total stride, still measure.
func TestMeasureAlignmentTinyFrames(t *testing.T) {
	m := testData(t)
	cfg := tinyConfig(MISimCLRFO)
	cfg.Preprocess = video.MaskAndResize(4, 4)
	model, err := NewModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := MeasureAlignment(context.Background(), model, cfg, m, 1, 3)
	if err != nil || a.Batches != 3 || !(math.Abs(a.Cosine) <= 1) {
		t.Errorf("4x4 frames: %v, %v", a, err)
	}
}

func TestMeasureAlignmentErrors(t *testing.T) {
	m := testData(t)
	cfg := tinyConfig(MISimCLRFO)
	model, err := NewModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	noOrder, err := NewModel(tinyConfig(MISimCLR))
	if err != nil {
		t.Fatal(err)
	}
	wide := cfg
	wide.BatchPairs = 1000
	onePair := cfg
	onePair.BatchPairs = 1
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		model   *Model
		cfg     Config
		epoch   int
		batches int
		want    string
	}{
		{"no model", nil, cfg, 1, 4, "no model"},
		{"no order head", noOrder, cfg, 1, 4, "no frame-order head"},
		{"one batch", model, cfg, 1, 1, "at least 2"},
		{"epoch 0", model, cfg, 0, 4, "epoch 0"},
		{"no full batch", model, wide, 1, 4, "fewer than one batch"},
		{"one pair per batch", model, onePair, 1, 4, "BatchPairs = 1"},
	} {
		_, err := MeasureAlignment(ctx, tc.model, tc.cfg, m, tc.epoch, tc.batches)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := MeasureAlignment(cancelled, model, cfg, m, 1, 4); err == nil {
		t.Error("a cancelled context: no error")
	}
}
