package finetune

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vidssl/vidssl/nn"
)

// fakeFitter "trains" by drawing new random weights every epoch and returns
// scripted validation losses, one list per learning rate.
type fakeFitter struct {
	ps       []*nn.Param
	val      map[float64][]float64
	lr       float64
	rng      *rand.Rand
	epochs   int
	started  []float64     // learning rates passed to start
	initial  [][][]float32 // weights at each start
	perEpoch [][][]float32 // weights after each epoch's "training", of the current run
}

func newFakeFitter(val map[float64][]float64) *fakeFitter {
	w, b := nn.NewParam("fc.weight", 1, 5), nn.NewParam("fc.bias", 1)
	rm := nn.NewBuffer("bn.running_mean", 3)
	f := &fakeFitter{ps: []*nn.Param{w, b, rm}, val: val, rng: rand.New(rand.NewPCG(1, 2))}
	f.draw()
	return f
}

func (f *fakeFitter) draw() {
	for _, p := range f.ps {
		for i := range p.Data() {
			p.Data()[i] = f.rng.Float32()
		}
	}
}

func (f *fakeFitter) params() []*nn.Param { return f.ps }

func (f *fakeFitter) start(lr float64) error {
	f.lr, f.epochs = lr, 0
	f.started = append(f.started, lr)
	f.initial = append(f.initial, snapshot(f.ps))
	f.perEpoch = nil
	return nil
}

func (f *fakeFitter) trainEpoch(ctx context.Context, epoch int, report func(step, steps int, loss float64)) (float64, int, error) {
	f.draw()
	f.epochs++
	f.perEpoch = append(f.perEpoch, snapshot(f.ps))
	report(1, 1, 1/float64(epoch))
	return 1 / float64(epoch), 1, ctx.Err()
}

func (f *fakeFitter) validate(context.Context) (float64, error) {
	return f.val[f.lr][f.epochs-1], nil
}

func equalSnap(a, b [][]float32) bool {
	return slices.EqualFunc(a, b, func(x, y []float32) bool { return slices.Equal(x, y) })
}

func TestEarlyStoppingRestoresBest(t *testing.T) {
	losses := []float64{1.0, 0.8, 0.9, 0.85, 0.81, 0.95, 0.99, 0.7, 0.6}
	cfg := tinyConfig()
	cfg.MaxEpochs, cfg.Patience = len(losses), 5
	cfg.HistoryPath = filepath.Join(t.TempDir(), "history.csv")
	var done []int
	cfg.Progress = func(p Progress) {
		if p.Done != nil {
			done = append(done, p.Done.Epoch)
		}
	}
	f := newFakeFitter(map[float64][]float64{cfg.LR: losses})
	var hist []EpochStats
	run, err := fit(context.Background(), cfg, f, cfg.LR, 1, 1, &hist)
	if err != nil {
		t.Fatal(err)
	}
	// Epoch 2 is the best; epochs 3-7 do not improve on it, so training
	// stops after epoch 7 and never sees epoch 8's lower loss.
	if f.epochs != 7 || len(run.History) != 7 || !run.Stopped || !slices.Equal(done, []int{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("trained %d epochs (history %d, stopped %v, progress %v), want 7 and stopped", f.epochs, len(run.History), run.Stopped, done)
	}
	if run.BestEpoch != 2 || run.BestValLoss != 0.8 {
		t.Errorf("best epoch %d (loss %v), want 2 (0.8)", run.BestEpoch, run.BestValLoss)
	}
	if !equalSnap(snapshot(f.ps), f.perEpoch[1]) {
		t.Error("the model does not hold the weights of epoch 2")
	}
	for i, h := range run.History {
		if h.Best != (i == 0 || i == 1) || h.ValLoss != losses[i] || h.Epoch != i+1 || h.LR != cfg.LR {
			t.Errorf("history row %d: %+v", i, h)
		}
	}
	read, err := ReadHistory(cfg.HistoryPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := range read {
		read[i].Seconds = run.History[i].Seconds // written to the millisecond
	}
	if !slices.Equal(read, run.History) {
		t.Errorf("history file:\n%+v\nwant\n%+v", read, run.History)
	}

	// An improvement resets the count: with patience 3, epoch 5 (0.81)
	// does not beat 0.8, but 0.7 at epoch 8 comes after 5 bad epochs, so
	// stopping comes after epoch 5.
	cfg.Patience = 3
	f = newFakeFitter(map[float64][]float64{cfg.LR: {1, 0.9, 0.95, 0.8, 0.85, 0.86, 0.87, 0.1}})
	cfg.MaxEpochs = 8
	if run, err = fit(context.Background(), cfg, f, cfg.LR, 1, 1, &hist); err != nil {
		t.Fatal(err)
	}
	if f.epochs != 7 || run.BestEpoch != 4 || !equalSnap(snapshot(f.ps), f.perEpoch[3]) {
		t.Errorf("patience 3: %d epochs, best %d, want 7 and 4 (and its weights)", f.epochs, run.BestEpoch)
	}

	// Patience 0 trains every epoch; the last may be the best.
	cfg.Patience = 0
	f = newFakeFitter(map[float64][]float64{cfg.LR: losses})
	cfg.MaxEpochs = len(losses)
	if run, err = fit(context.Background(), cfg, f, cfg.LR, 1, 1, &hist); err != nil {
		t.Fatal(err)
	}
	if f.epochs != len(losses) || run.Stopped || run.BestEpoch != len(losses) || !equalSnap(snapshot(f.ps), f.perEpoch[len(losses)-1]) {
		t.Errorf("patience 0: %d epochs, stopped %v, best %d", f.epochs, run.Stopped, run.BestEpoch)
	}
}

func TestSweepPicksLowestValLoss(t *testing.T) {
	cfg := tinyConfig()
	cfg.MaxEpochs, cfg.Patience = 5, 2
	lrs := []float64{1e-4, 5e-4, 1e-5}
	f := newFakeFitter(map[float64][]float64{
		1e-4: {0.9, 0.7, 0.8, 0.75, 0.72},
		5e-4: {0.8, 0.6, 0.65, 0.9, 0.5}, // the lowest seen: 0.6 at epoch 2
		1e-5: {0.95, 0.9, 0.85, 0.8, 0.79},
	})
	entry := snapshot(f.ps)
	var runsSeen []int
	cfg.Progress = func(p Progress) {
		if p.Done != nil && p.Epoch == 1 {
			runsSeen = append(runsSeen, p.Run)
		}
	}
	runs, chosen, err := sweep(context.Background(), cfg, f, lrs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.started, lrs) || len(runs) != 3 || !slices.Equal(runsSeen, []int{1, 2, 3}) {
		t.Fatalf("started %v, %d runs, progress runs %v", f.started, len(runs), runsSeen)
	}
	for i, w := range f.initial {
		if !equalSnap(w, entry) {
			t.Errorf("run %d (lr %g) did not start from the entry weights", i+1, lrs[i])
		}
	}
	if chosen != 1 || runs[chosen].LR != 5e-4 || runs[1].BestEpoch != 2 || runs[1].BestValLoss != 0.6 {
		t.Fatalf("chose run %d (%+v), want lr 5e-4, epoch 2", chosen, runs[chosen])
	}
	if !runs[0].Stopped || !runs[1].Stopped || len(runs[1].History) != 4 || runs[2].Stopped || len(runs[2].History) != 5 {
		t.Errorf("early stopping: runs %+v", runs)
	}
	// The model holds the chosen run's best weights, which were drawn in
	// its second epoch: replay the fake's random stream to get them.
	replay := newFakeFitter(nil)
	for range 4 + 1 { // run 1's epochs, then run 2's first
		replay.draw()
	}
	replay.draw() // run 2's second epoch
	if !equalSnap(snapshot(f.ps), snapshot(replay.ps)) {
		t.Error("the model does not hold the chosen run's best weights")
	}

	// The last run winning leaves its weights in place; ties go to the
	// first run.
	f = newFakeFitter(map[float64][]float64{1: {0.5, 0.6}, 2: {0.5, 0.4}, 3: {0.4, 0.7}})
	cfg.MaxEpochs, cfg.Patience = 2, 0
	if _, chosen, err = sweep(context.Background(), cfg, f, []float64{1, 2, 3}); err != nil || chosen != 1 {
		t.Errorf("tie: chose %d (%v), want the first of the best (1)", chosen, err)
	}
}
