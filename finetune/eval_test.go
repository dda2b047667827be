package finetune

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/metrics"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/video"
)

func TestAggregateExact(t *testing.T) {
	// Study s1: videos a (4 clips) and b; study s2: video c. Logits are
	// chosen so that the mean of the sigmoids differs from the sigmoid of
	// the mean.
	clips := []clipLogit{
		{"a", "s1", 1, 2}, {"a", "s1", 1, -1}, {"a", "s1", 1, 0}, {"a", "s1", 1, 4},
		{"b", "s1", 1, -3}, {"b", "s1", 1, -3}, {"b", "s1", 1, 1}, {"b", "s1", 1, 0.5},
		{"c", "s2", 0, 0}, {"c", "s2", 0, 0}, {"c", "s2", 0, -20}, {"c", "s2", 0, 20},
	}
	p, err := aggregate(clips)
	if err != nil {
		t.Fatal(err)
	}
	s := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	pa := (s(2) + s(-1) + s(0) + s(4)) / 4
	pb := (s(-3) + s(-3) + s(1) + s(0.5)) / 4
	pc := (s(0) + s(0) + s(-20) + s(20)) / 4
	want := Predictions{
		Videos:  []Prediction{{"a", "s1", 1, pa, 4}, {"b", "s1", 1, pb, 4}, {"c", "s2", 0, pc, 4}},
		Studies: []Prediction{{"s1", "s1", 1, (pa + pb) / 2, 2}, {"s2", "s2", 0, pc, 1}},
	}
	for _, lv := range []struct {
		name      string
		got, want []Prediction
	}{{"video", p.Videos, want.Videos}, {"study", p.Studies, want.Studies}} {
		if len(lv.got) != len(lv.want) {
			t.Fatalf("%s: %d predictions, want %d", lv.name, len(lv.got), len(lv.want))
		}
		for i, g := range lv.got {
			w := lv.want[i]
			if g.ID != w.ID || g.Study != w.Study || g.Label != w.Label || g.Count != w.Count || math.Abs(g.Prob-w.Prob) > 1e-15 {
				t.Errorf("%s %d: %+v, want %+v", lv.name, i, g, w)
			}
		}
	}
	if math.Abs(pc-0.5) > 1e-15 || math.Abs(pa-s(1.25)) < 0.01 {
		t.Fatal("the hand-made case does not test the mean of sigmoids")
	}

	// The validation loss is the mean BCE over clips with pos_weight.
	bce := func(x, y, pw float64) float64 {
		return -(pw*y*math.Log(s(x)) + (1-y)*math.Log(1-s(x)))
	}
	var sum float64
	for _, c := range clips {
		sum += bce(float64(c.logit), float64(c.label), 2.5)
	}
	loss, err := meanBCE(clips, 2.5)
	// (The naive formula loses digits at logit ±20: log(1 - sigmoid(20)).)
	if err != nil || math.Abs(loss-sum/12) > 1e-8 {
		t.Errorf("mean BCE %v (%v), want %v", loss, err, sum/12)
	}

	// Unlabelled clips give label -1; a mix, or a NaN, is an error.
	for i := range clips {
		clips[i].label = -1
	}
	if p, err := aggregate(clips); err != nil || p.Studies[0].Label != -1 || p.Videos[2].Label != -1 {
		t.Errorf("unlabelled: %+v, %v", p, err)
	}
	clips[3].label = 1
	if _, err := aggregate(clips); err == nil {
		t.Error("labelled and unlabelled clips: no error")
	}
	clips[3].label, clips[5].logit = -1, float32(math.NaN())
	if _, err := aggregate(clips); err == nil || !strings.Contains(err.Error(), "video b") {
		t.Errorf("a NaN logit: error %v", err)
	}
	if _, err := meanBCE(clips, 1); err == nil {
		t.Error("mean BCE of unlabelled clips: no error")
	}
}

func TestScore(t *testing.T) {
	preds := []Prediction{
		{ID: "1", Label: 1, Prob: 0.9}, {ID: "2", Label: 1, Prob: 0.4}, {ID: "3", Label: 0, Prob: 0.6},
		{ID: "4", Label: 0, Prob: 0.2}, {ID: "5", Label: 0, Prob: 0.1},
	}
	m, err := Score(preds, metrics.BootstrapOptions{Resamples: 500})
	if err != nil {
		t.Fatal(err)
	}
	// 5 of the 6 positive-negative pairs are ordered right.
	if m.N != 5 || m.Positives != 2 || math.Abs(m.AUROC.Estimate-5.0/6) > 1e-12 || m.AUROC.Resamples != 500 || m.AUROC.Level != 0.95 {
		t.Errorf("metrics %+v", m)
	}
	if m.Confusion != (metrics.Confusion{TP: 1, FP: 1, TN: 2, FN: 1}) || m.Accuracy != 0.6 || m.Recall != 0.5 || m.Specificity != 2.0/3 {
		t.Errorf("threshold metrics %+v", m)
	}
	if !(m.AUROC.Lower <= m.AUROC.Estimate && m.AUROC.Estimate <= m.AUROC.Upper) {
		t.Errorf("interval %v", m.AUROC)
	}
	preds[0].Label = 0
	preds[1].Label = 0
	if _, err := Score(preds, metrics.BootstrapOptions{}); err == nil || !strings.Contains(err.Error(), "only one class") {
		t.Errorf("one class: error %v", err)
	}
}

// TestPredictPadding checks that the padding of the last evaluation batch
// changes nothing: predictions with 2 videos per pass (5 videos: the last
// pass is half padding) equal those with 1 video per pass.
func TestPredictPadding(t *testing.T) {
	_, val, test := synthData(t, 30, 12, 5)
	m := test
	m.Records = append(m.Records, val.Records...)
	if len(m.Records)%2 == 0 {
		m.Records = m.Records[1:]
	}
	cfg := tinyConfig()
	model, _, err := NewModel(cfg, Init{})
	if err != nil {
		t.Fatal(err)
	}
	var preds [2]*Predictions
	for i, clips := range []int{4, 8} {
		cfg.EvalBatchSize = clips
		if preds[i], err = Predict(context.Background(), cfg, model, m); err != nil {
			t.Fatal(err)
		}
	}
	if len(preds[0].Videos) != len(m.Records) {
		t.Fatalf("%d video predictions for %d videos", len(preds[0].Videos), len(m.Records))
	}
	for i, a := range preds[0].Videos {
		b := preds[1].Videos[i]
		if a.ID != b.ID || a.Count != 4 || math.Abs(a.Prob-b.Prob) > 1e-6 {
			t.Errorf("video %d: %+v with 1 video per pass, %+v with 2", i, a, b)
		}
	}
	for i, a := range preds[0].Studies {
		if b := preds[1].Studies[i]; a.ID != b.ID || math.Abs(a.Prob-b.Prob) > 1e-6 {
			t.Errorf("study %d: %+v with 1 video per pass, %+v with 2", i, a, b)
		}
	}
	ev, err := Evaluate(context.Background(), cfg, model, m, metrics.BootstrapOptions{Resamples: 200})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Video.N != len(m.Records) || ev.Study.N != len(preds[0].Studies) || ev.Study.AUROC.Resamples != 200 {
		t.Errorf("evaluation counts: %d videos, %d studies", ev.Video.N, ev.Study.N)
	}
	other := cfg
	other.Model.InChannels = 1 // the model takes 3
	if _, err := Predict(context.Background(), other, model, m); err == nil || !strings.Contains(err.Error(), "InChannels = 1") {
		t.Errorf("a model of other channels than the config's: error %v", err)
	}
}

// TestClipsMatchPredict checks that Config.ClipsFromFile gives the clips
// that Predict scores: the model's mean sigmoid over them is Predict's
// probability, with a resize in the preprocessing.
func TestClipsMatchPredict(t *testing.T) {
	_, _, test := synthData(t, 12, 12, 3)
	test.Records = test.Records[:min(2, len(test.Records))]
	cfg := tinyConfig()
	cfg.FrameSize = 16 // the data is 32x32
	model, _, err := NewModel(cfg, Init{})
	if err != nil {
		t.Fatal(err)
	}
	preds, err := Predict(context.Background(), cfg, model, test)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range test.Records {
		b, err := cfg.ClipsFromFile(r.Path)
		if err != nil {
			t.Fatal(err)
		}
		if want := [5]int{video.EvalClips, 3, cfg.ClipLength, 16, 16}; b.Shape != want {
			t.Fatalf("%s: clips of shape %v, want %v", r.Path, b.Shape, want)
		}
		g := nn.NewGraph(false, nil)
		x := g.Input("x", b.Shape[:]...)
		logits, err := model.Forward(g, x)
		if err != nil {
			t.Fatal(err)
		}
		prog := nn.NewEvaluator(g)
		if _, err := prog.Run(context.Background(), nn.Feed{Node: x, Data: b.Data}); err != nil {
			t.Fatal(err)
		}
		var mean float64
		for _, l := range logits.Value().Data().([]float32) {
			mean += 1 / (1 + math.Exp(-float64(l))) / video.EvalClips
		}
		prog.Close()
		if p := preds.Videos[i]; p.ID != r.Path || math.Abs(p.Prob-mean) > 1e-5 {
			t.Errorf("%s: Predict gives %+v, the clips %v", r.Path, p, mean)
		}
	}
	if _, err := cfg.Clips(nil); err == nil {
		t.Error("nil video: no error")
	}
	if _, err := cfg.ClipsFromFile("missing.avi"); err == nil || !strings.Contains(err.Error(), "missing.avi") {
		t.Errorf("missing file: error %v", err)
	}
}
