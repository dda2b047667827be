package finetune

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vidssl/vidssl/metrics"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/video/echosynth"
)

// TestFineTuneEndToEnd fine-tunes a tiny model on 8 echosynth training
// videos (batches of 4 and, with 9 videos, a last batch of 1: two graphs)
// with a high learning rate, so that it memorises them: the losses are
// finite, the training loss falls, the history file matches the result, and
// the model ends with the weights of the best epoch.
func TestFineTuneEndToEnd(t *testing.T) {
	train, val, _ := synthData(t, 24, 12, 2)
	train.Records = train.Records[:9]
	cfg := tinyConfig()
	cfg.BatchSize = 4
	cfg.MaxEpochs = 12
	if testing.Short() {
		cfg.MaxEpochs = 9 // still three first and three last epochs
	}
	cfg.LR = 1e-2
	cfg.DropoutP = 0
	cfg.Patience = 0
	cfg.HistoryPath = filepath.Join(t.TempDir(), "history.csv")
	model, _, err := NewModel(cfg, Init{})
	if err != nil {
		t.Fatal(err)
	}
	var steps int
	weights := map[int]map[string][]float32{} // after each epoch
	cfg.Progress = func(p Progress) {
		if p.Done == nil {
			steps++
			if !finite(p.Loss) || p.Steps != 3 || p.Run != 1 || p.Runs != 1 {
				t.Errorf("progress %+v", p)
			}
			return
		}
		weights[p.Epoch] = values(model)
	}
	res, err := FineTune(context.Background(), cfg, model, train, val, 1)
	if err != nil {
		t.Fatal(err)
	}
	run := res.Runs[0]
	if len(run.History) != cfg.MaxEpochs || steps != 3*cfg.MaxEpochs || res.TrainVideos != 9 || res.Model != model || res.LR != cfg.LR {
		t.Fatalf("%d epochs, %d steps, result %+v", len(run.History), steps, res)
	}
	var first, last float64
	for i, h := range run.History {
		t.Logf("epoch %d: train %.4f, val %.4f (%.2fs)", h.Epoch, h.TrainLoss, h.ValLoss, h.Seconds)
		if !finite(h.TrainLoss) || !finite(h.ValLoss) || h.TrainLoss <= 0 || h.ValLoss <= 0 {
			t.Errorf("epoch %d: losses %v, %v", h.Epoch, h.TrainLoss, h.ValLoss)
		}
		if i < 3 {
			first += h.TrainLoss / 3
		}
		if i >= len(run.History)-3 {
			last += h.TrainLoss / 3
		}
	}
	if !(last < first-0.03) {
		t.Errorf("training loss did not fall: mean %.4f over the first 3 epochs, %.4f over the last 3", first, last)
	}
	if !slices.Equal(values(model)["layer1.0.conv1.0.weight"], weights[run.BestEpoch]["layer1.0.conv1.0.weight"]) {
		t.Errorf("the model does not hold epoch %d's weights", run.BestEpoch)
	}
	for name, v := range values(model) {
		if !slices.Equal(v, weights[run.BestEpoch][name]) {
			t.Errorf("%s differs from epoch %d's", name, run.BestEpoch)
		}
	}
	hist, err := ReadHistory(cfg.HistoryPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != len(run.History) || hist[run.BestEpoch-1].ValLoss != run.BestValLoss {
		t.Errorf("history file: %d rows, best %+v", len(hist), hist[run.BestEpoch-1])
	}
	pw, _ := PosWeight(train)
	if res.PosWeight != pw {
		t.Errorf("pos_weight %v, want %v", res.PosWeight, pw)
	}
}

func TestFineTuneSweepsSmallFractions(t *testing.T) {
	train, val, _ := synthData(t, 16, 10, 4)
	cfg := tinyConfig()
	cfg.MaxEpochs, cfg.Patience = 1, 0
	cfg.LRSweep = []float64{1e-3, 1e-2}
	model, _, err := NewModel(cfg, Init{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := FineTune(context.Background(), cfg, model, train, val, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2 || res.Runs[0].LR != 1e-3 || res.Runs[1].LR != 1e-2 {
		t.Fatalf("runs %+v, want one per swept learning rate", res.Runs)
	}
	best := res.Runs[0]
	if res.Runs[1].BestValLoss < best.BestValLoss {
		best = res.Runs[1]
	}
	if res.LR != best.LR || res.Runs[res.Chosen].LR != res.LR {
		t.Errorf("chose lr %v, the lower validation loss is lr %v's", res.LR, best.LR)
	}
	// The chosen weights give the chosen run's validation loss again.
	r, err := newRunner(cfg, model, train, val)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	loss, err := r.validate(context.Background())
	if err != nil || math.Abs(loss-best.BestValLoss) > 1e-9 {
		t.Errorf("validation loss of the final model %v (%v), want %v", loss, err, best.BestValLoss)
	}
	if len(res.History()) != 2 {
		t.Errorf("history %+v", res.History())
	}
	res, err = FineTune(context.Background(), cfg, model, train, val, 0.25)
	if err != nil || len(res.Runs) != 1 || res.LR != cfg.LR {
		t.Errorf("fraction 0.25: %v runs at %v (%v), want 1 at %v", len(res.Runs), res.LR, err, cfg.LR)
	}
}

func TestFineTuneCancelAndNaN(t *testing.T) {
	train, val, _ := synthData(t, 16, 10, 4)
	cfg := tinyConfig()
	cfg.BatchSize = 2
	model, _, err := NewModel(cfg, Init{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var cancelled time.Time
	cfg.Progress = func(p Progress) {
		if p.Step == 2 && cancelled.IsZero() {
			cancel()
			cancelled = time.Now()
		}
	}
	_, err = FineTune(ctx, cfg, model, train, val, 1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: error %v, want context.Canceled", err)
	}
	if d := time.Since(cancelled); d > 5*time.Second {
		t.Errorf("FineTune returned %v after cancellation", d)
	}
	t.Logf("cancelled: %v", err)
	if _, err := FineTune(ctx, cfg, model, train, val, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("an already cancelled context: error %v", err)
	}
	if _, err := Predict(ctx, cfg, model, val); !errors.Is(err, context.Canceled) {
		t.Errorf("Predict with a cancelled context: error %v", err)
	}

	// A NaN weight makes the loss NaN at the first step.
	cfg.Progress = nil
	for _, p := range model.Params() {
		if p.Name == "fc.bias" {
			nn.Fill(p, float32(math.NaN()))
		}
	}
	_, err = FineTune(context.Background(), cfg, model, train, val, 1)
	if err == nil || !strings.Contains(err.Error(), "epoch 1: step 1 of") || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN: error %v, want one naming epoch 1, step 1 and NaN", err)
	}
	t.Logf("NaN: %v", err)

	// Bad input.
	one, err := SelectStudies(train, []string{train.Records[0].Study})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FineTune(context.Background(), cfg, model, one, val, 1); err == nil || !strings.Contains(err.Error(), "pos_weight") {
		t.Errorf("one class: error %v", err)
	}
	if _, err := FineTune(context.Background(), cfg, model, train, val, 0); err == nil {
		t.Error("fraction 0: no error")
	}
}

// TestSmokeEchosynth trains SmallConfig from scratch for a few epochs on 60
// echosynth studies (the default severity mix) at 32x32 and logs the test
// AUROC. It checks only that everything runs: the number is small-sample
// noise around what a from-scratch model learns from ~40 studies.
func TestSmokeEchosynth(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	train, val, test := synthData(t, 60, 32, 11, func(c *echosynth.Config) {
		c.Mix = echosynth.DefaultConfig().Mix
		c.MinVideos, c.MaxVideos = 2, 3
		c.Split = [3]float64{0.5, 0.15, 0.35}
	})
	cfg := SmallConfig()
	cfg.MaxEpochs = 6
	cfg.Workers = 2
	model, _, err := NewModel(cfg, Init{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := FineTune(context.Background(), cfg, model, train, val, 1)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := Evaluate(context.Background(), cfg, model, test, metrics.BootstrapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Runs[0]
	t.Logf("%d train / %d val videos, %d epochs (best %d, val loss %.4f) in %v", res.TrainVideos, res.ValVideos, len(r.History), r.BestEpoch, r.BestValLoss, time.Since(start).Round(time.Second))
	t.Logf("test: study AUROC %v (%d studies, %d severe), video AUROC %v (%d videos); study AUPRC %.3f, balanced accuracy %.3f",
		ev.Study.AUROC, ev.Study.N, ev.Study.Positives, ev.Video.AUROC, ev.Video.N, ev.Study.AUPRC, ev.Study.BalancedAccuracy)
	if !finite(ev.Study.AUROC.Estimate) || !finite(ev.Video.AUROC.Estimate) {
		t.Errorf("AUROC %v, %v", ev.Study.AUROC, ev.Video.AUROC)
	}
}
