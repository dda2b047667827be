package pretrain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video"
)

// sameNumbers compares histories without the wall-clock seconds.
func sameNumbers(t *testing.T, what string, got, want []EpochStats) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d epochs, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		g.Seconds, w.Seconds = 0, 0
		if g != w {
			t.Errorf("%s: epoch %d: %+v, uninterrupted run %+v", what, i+1, g, w)
		}
	}
}

func sameParams(t *testing.T, what string, a, b *Model) {
	t.Helper()
	sa, err := a.State()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.State()
	if err != nil {
		t.Fatal(err)
	}
	if len(sa) != len(sb) {
		t.Fatalf("%s: %d tensors vs %d", what, len(sa), len(sb))
	}
	for name, ta := range sa {
		if !slices.Equal(ta.Data().([]float32), sb[name].Data().([]float32)) {
			t.Errorf("%s: %s differs from the uninterrupted run", what, name)
		}
	}
}

// sameOptimizer compares the optimiser state of two checkpoints.
func sameOptimizer(t *testing.T, what, got, want string) {
	t.Helper()
	var states [2]map[string][]float32
	for i, path := range []string{got, want} {
		ck, err := nn.LoadCheckpoint(path)
		if err != nil {
			t.Fatal(err)
		}
		opt, _ := nn.SplitPrefix(OptimizerPrefix, ck.Tensors)
		states[i] = map[string][]float32{}
		for name, v := range opt {
			states[i][name] = v.Float32s()
		}
	}
	if len(states[1]) == 0 {
		t.Fatalf("%s: no optimiser state in %s", what, want)
	}
	if len(states[0]) != len(states[1]) {
		t.Fatalf("%s: %d optimiser tensors, the uninterrupted run %d", what, len(states[0]), len(states[1]))
	}
	for name, v := range states[1] {
		if !slices.Equal(states[0][name], v) {
			t.Errorf("%s: optimiser state %s differs from the uninterrupted run's", what, name)
		}
	}
}

// TestResume cancels runs mid-epoch (and once loses the interrupted
// checkpoint, as a hard kill would) and resumes them: histories, final
// weights and optimiser state equal those of a run that was never
// interrupted.
func TestResume(t *testing.T) {
	testResume(t, nil)
}

// TestResumeSGD is TestResume with SGD (momentum, dampening, weight decay)
// as the optimiser: its momentum buffers are checkpointed and resumed, and
// resumed runs continue bit for bit.
func TestResumeSGD(t *testing.T) {
	sgd := nn.OptimizerConfig{Kind: nn.OptimizerSGD, Momentum: 0.9, Dampening: 0.1, WeightDecay: 1e-4}
	testResume(t, func(c *Config) { c.Optimizer, c.LR = sgd, 0.05 })
}

// testResume is TestResume with the config changed by edit, when not nil.
func testResume(t *testing.T, edit func(*Config)) {
	m := testData(t)
	cfg := tinyConfig(MISimCLRFO)
	cfg.Epochs = 3
	cfg.CheckpointEvery = 2
	if edit != nil {
		edit(&cfg)
	}
	want, err := Run(t.Context(), cfg, m, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(want.History) != 3 || want.History[0].Steps < 3 {
		t.Fatalf("history %+v", want.History)
	}

	for _, tc := range []struct {
		name        string
		epoch, step int  // where to cancel
		hardKill    bool // remove the interrupted checkpoint before resuming
		resumeAt    Position
	}{
		{"mid-epoch 2", 2, 2, false, Position{1, 2}},
		{"mid-epoch 1", 1, 1, false, Position{0, 1}},
		{"end of epoch 1", 1, want.History[0].Steps, false, Position{1, 0}},
		{"hard kill in epoch 3", 3, 1, true, Position{2, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			c := cfg
			c.Progress = func(p Progress) {
				if p.Epoch == tc.epoch && p.Step == tc.step {
					cancel()
				}
			}
			_, err := Run(ctx, c, m, dir)
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
				t.Fatalf("cancelled run: error %v", err)
			}
			if tc.hardKill {
				names, _ := filepath.Glob(filepath.Join(dir, "interrupted-*"))
				if len(names) != 1 {
					t.Fatalf("interrupted checkpoints: %v", names)
				}
				os.Remove(names[0])
			}
			path, pos, err := LatestCheckpoint(dir)
			if err != nil || pos != tc.resumeAt {
				t.Fatalf("latest checkpoint %s at %+v (%v), want %+v", path, pos, err, tc.resumeAt)
			}
			got, err := Run(t.Context(), cfg, m, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got.ResumedFrom != path {
				t.Errorf("resumed from %q, want %q", got.ResumedFrom, path)
			}
			sameNumbers(t, tc.name, got.History, want.History)
			sameParams(t, tc.name, got.Model, want.Model)
			sameOptimizer(t, tc.name, got.Checkpoint, want.Checkpoint)
			csv, err := ReadHistory(filepath.Join(dir, HistoryName))
			if err != nil {
				t.Fatal(err)
			}
			sameNumbers(t, tc.name+" history.csv", csv, want.History)
			left, _ := filepath.Glob(filepath.Join(dir, "interrupted-*"))
			if len(left) != 0 {
				t.Errorf("interrupted checkpoints left after the run: %v", left)
			}
			for _, e := range []int{2, 3} {
				if _, err := os.Stat(filepath.Join(dir, EpochName(e))); err != nil {
					t.Errorf("epoch %d checkpoint: %v", e, err)
				}
			}
		})
	}

	// A finished run is not run again; more epochs extend it.
	dir := t.TempDir()
	c := cfg
	c.Epochs = 2
	if _, err := Run(t.Context(), c, m, dir); err != nil {
		t.Fatal(err)
	}
	again, err := Run(t.Context(), c, m, dir)
	if err != nil || len(again.History) != 2 || again.ResumedFrom == "" {
		t.Fatalf("re-running a finished run: %v, %+v", err, again)
	}
	longer, err := Run(t.Context(), cfg, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	sameNumbers(t, "extended", longer.History, want.History)
}

func TestResumeMismatch(t *testing.T) {
	m := testData(t)
	cfg := tinyConfig(MISimCLR)
	cfg.Epochs = 1
	dir := t.TempDir()
	if _, err := Run(t.Context(), cfg, m, dir); err != nil {
		t.Fatal(err)
	}
	lr := cfg.LR
	cfg.LR *= 2
	cfg.Seed++
	want := fmt.Sprintf("other settings: LR %g in the checkpoint, %g in this run; Seed %d in the checkpoint, %d in this run; use", lr, cfg.LR, cfg.Seed-1, cfg.Seed)
	if _, err := Run(t.Context(), cfg, m, dir); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("resuming with another learning rate and seed: error %v, want one with %q", err, want)
	}
	cfg.LR /= 2
	cfg.Seed--
	cfg.Workers = 1 // allowed to change
	cfg.Epochs = 2
	if _, err := Run(t.Context(), cfg, m, dir); err != nil {
		t.Errorf("resuming with fewer workers: %v", err)
	}
	// A damaged checkpoint is an error naming it.
	path := filepath.Join(dir, EpochName(2))
	if err := os.WriteFile(path, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Epochs = 3
	if _, err := Run(t.Context(), cfg, m, dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("damaged checkpoint: error %v", err)
	}
}

// TestNonFinite: a NaN weight stops the run at its first step with an error
// naming the epoch and step, and writes no checkpoint.
func TestNonFinite(t *testing.T) {
	m := testData(t)
	cfg := tinyConfig(MISimCLRFO)
	dir := t.TempDir()
	r, err := newRunner(cfg, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	r.model.Projector.Second.Weight.Data()[3] = float32(math.NaN())
	_, err = r.run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "epoch 1 step 1 of") || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("NaN weight: error %v", err)
	}
	if path, _, _ := LatestCheckpoint(dir); path != "" {
		t.Errorf("checkpoint %s written after a NaN", path)
	}
}

func TestLoad(t *testing.T) {
	m := testData(t)
	cfg := tinyConfig(MISimCLRFO)
	cfg.Epochs = 1
	dir := t.TempDir()
	res, err := Run(t.Context(), cfg, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Checkpoint != filepath.Join(dir, EpochName(1)) {
		t.Fatalf("checkpoint %q", res.Checkpoint)
	}
	got, gotCfg, pos, err := Load(res.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if pos != (Position{Epoch: 1}) || gotCfg.Method != cfg.Method || gotCfg.Model != cfg.Model || gotCfg.LR != cfg.LR {
		t.Errorf("loaded position %+v, config %+v", pos, gotCfg)
	}
	sameParams(t, "Load", got, res.Model)

	// The encoder goes into a classifier, by LoadEncoder or by resnet3d's
	// own loader (which strips "encoder.").
	c := cfg.Model
	c.NumClasses = 1
	for _, load := range []func(*resnet3d.Model) error{
		func(enc *resnet3d.Model) error { _, err := LoadEncoder(res.Checkpoint, enc, true); return err },
		func(enc *resnet3d.Model) error {
			_, err := enc.LoadWeights(res.Checkpoint, resnet3d.LoadOptions{})
			return err
		},
	} {
		enc, err := resnet3d.New(c, rand.New(rand.NewPCG(9, 9)))
		if err == nil {
			err = load(enc)
		}
		if err != nil {
			t.Fatal(err)
		}
		want, _ := nn.ParamsByName(res.Model.Encoder.Params())
		for _, p := range enc.Params() {
			if w, ok := want[p.Name]; ok && !slices.Equal(p.Data(), w.Data()) {
				t.Errorf("encoder %s not loaded", p.Name)
			}
		}
	}
	enc, _ := resnet3d.New(c, rand.New(rand.NewPCG(9, 9)))
	if _, err := LoadEncoder(res.Checkpoint, enc, false); err == nil {
		t.Error("LoadEncoder without skipFC into a model with fc: no error")
	}
}

func TestConfig(t *testing.T) {
	p := PaperConfig(MISimCLRFO)
	if p.LR != 0.1 || p.BatchPairs != 392 || p.Epochs != 300 || p.Tau != 0.05 || p.ClipLength != 4 ||
		p.Model.FeatureDim() != 512 || !p.MaskSameGroup || p.CheckpointEvery != 20 || p.ContrastiveWeight != 1 || p.OrderWeight != 1 {
		t.Errorf("PaperConfig(MISimCLRFO) = %+v", p)
	}
	if s := PaperConfig(SimCLR); s.Epochs != 520 || s.MaskSameGroup {
		t.Errorf("PaperConfig(SimCLR) = %+v", s)
	}
	for _, meth := range []Method{SimCLR, MISimCLR, MISimCLRFO} {
		for _, c := range []Config{PaperConfig(meth), SmallConfig(meth)} {
			if err := c.Validate(); err != nil {
				t.Errorf("%v preset: %v", meth, err)
			}
		}
		got, err := ParseMethod(strings.ToUpper(meth.String()))
		if err != nil || got != meth {
			t.Errorf("ParseMethod(%q) = %v, %v", meth, got, err)
		}
	}
	if m, err := ParseMethod("EchoCLR"); err != nil || m != MISimCLRFO {
		t.Errorf("ParseMethod(EchoCLR) = %v, %v", m, err)
	}
	bad := []func(*Config){
		func(c *Config) { c.Method = 0 },
		func(c *Config) { c.Model.NumClasses = 1 },
		func(c *Config) { c.ClipLength = 9 },
		func(c *Config) { c.BatchPairs = 1 },
		func(c *Config) { c.Epochs = 0 },
		func(c *Config) { c.LR = math.NaN() },
		func(c *Config) { c.Tau = 0 },
		func(c *Config) { c.ContrastiveWeight, c.OrderWeight = 0, 0 },
		func(c *Config) { c.Model.Width = 0 },
	}
	for i, f := range bad {
		c := SmallConfig(MISimCLRFO)
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("bad config %d: no error", i)
		}
	}
	// Too few pairs for a batch, and no training split.
	m := testData(t)
	c := tinyConfig(SimCLR)
	c.BatchPairs = 1000
	if _, err := Run(t.Context(), c, m, t.TempDir()); err == nil || !strings.Contains(err.Error(), "fewer than one batch") {
		t.Errorf("huge batch: error %v", err)
	}
	if _, err := Run(t.Context(), tinyConfig(SimCLR), m.Subset("test").Subset("train"), t.TempDir()); err == nil {
		t.Error("no training records: no error")
	}
}

// TestSplits: Config.Splits chooses the records pretraining uses (the
// training split by default, every record with AllSplits); PlanRun counts
// the pairs and steps before anything trains, as Run then trains them; and
// a run is resumed only with the same splits.
func TestSplits(t *testing.T) {
	m := testData(t)
	count := func(splits ...string) (records int, pairs map[bool]int) {
		perStudy := map[string]int{}
		for _, r := range m.Records {
			if slices.Contains(splits, r.Split) {
				records++
				perStudy[r.Study]++
			}
		}
		pairs = map[bool]int{false: records}
		for _, n := range perStudy {
			pairs[true] += n * (n - 1) / 2
		}
		return records, pairs
	}
	for _, tc := range []struct {
		name   string
		splits []string
		want   []string // the records counted
	}{
		{"default", nil, []string{video.SplitTrain}},
		{"train", []string{video.SplitTrain, video.SplitTrain}, []string{video.SplitTrain}},
		{"test only", []string{video.SplitTest}, []string{video.SplitTest}},
		{"all", AllSplits(), AllSplits()},
	} {
		for _, meth := range []Method{SimCLR, MISimCLR} {
			c := tinyConfig(meth)
			c.Splits = tc.splits
			p, err := PlanRun(c, m)
			if err != nil {
				t.Fatalf("%s %v: %v", tc.name, meth, err)
			}
			records, pairs := count(tc.want...)
			want := pairs[meth.MultiInstance()]
			if p.Records != records || p.Pairs != want || p.StepsPerEpoch != want/c.BatchPairs || p.Dropped != want%c.BatchPairs {
				t.Errorf("%s %v: plan %+v, want %d records, %d pairs", tc.name, meth, p, records, want)
			}
		}
	}
	if records, _ := count(AllSplits()...); records != len(m.Records) {
		t.Fatalf("AllSplits selects %d of %d records", records, len(m.Records))
	}

	// Videos of the unlabelled split (no labels) join the training split's.
	withU := &video.Manifest{Records: slices.Clone(m.Records)}
	var nu int
	for i, r := range withU.Records {
		if r.Split == video.SplitVal {
			withU.Records[i].Split, withU.Records[i].Label = video.SplitUnlabelled, -1
			nu++
		}
	}
	c0 := tinyConfig(SimCLR)
	c0.Splits = []string{video.SplitTrain, video.SplitUnlabelled}
	if p, err := PlanRun(c0, withU); err != nil || p.Records != len(m.Subset(video.SplitTrain).Records)+nu || nu == 0 {
		t.Errorf("train and unlabelled: plan %+v, %v; want %d unlabelled records more than train", p, err, nu)
	}

	// Unknown and empty lists of splits are refused.
	for _, bad := range [][]string{{}, {"tarin"}} {
		c := tinyConfig(SimCLR)
		c.Splits = bad
		if _, err := PlanRun(c, m); err == nil || !strings.Contains(err.Error(), "Splits") {
			t.Errorf("Splits %q: error %v", bad, err)
		}
	}
	// Too small: the error has the numbers.
	c := tinyConfig(SimCLR)
	c.Splits = []string{video.SplitVal}
	c.BatchPairs = 1000
	if _, err := PlanRun(c, m); err == nil || !strings.Contains(err.Error(), `training pairs from`) || !strings.Contains(err.Error(), `splits ["val"], fewer than one batch of 1000`) {
		t.Errorf("too few pairs: error %v", err)
	}

	// Run trains on what the plan says: every record, test split included.
	c = tinyConfig(SimCLR)
	c.Epochs = 1
	c.Splits = AllSplits()
	p, err := PlanRun(c, m)
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	c.Progress = func(pr Progress) { steps = pr.Steps }
	dir := t.TempDir()
	res, err := Run(t.Context(), c, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	if steps != p.StepsPerEpoch || res.History[0].Steps != p.StepsPerEpoch {
		t.Errorf("ran %d steps per epoch (history %d), plan %d", steps, res.History[0].Steps, p.StepsPerEpoch)
	}
	// Resuming with other splits is refused, naming them; the same splits
	// in another order are the same run.
	c.Progress = nil
	c.Epochs = 2
	c.Splits = nil
	if _, err := Run(t.Context(), c, m, dir); err == nil || !strings.Contains(err.Error(), `Splits ["","ext_test","test","train","unlabelled","val"] in the checkpoint, ["train"] in this run`) {
		t.Errorf("resuming with the default splits: error %v", err)
	}
	c.Epochs = 1
	c.Splits = append(slices.Clone(AllSplits()), video.SplitTest)
	slices.Reverse(c.Splits)
	if res, err := Run(t.Context(), c, m, dir); err != nil || res.ResumedFrom == "" {
		t.Errorf("resuming with the same splits in another order: %v", err)
	}
	// The same splits of another record set are refused too: a video moved
	// from val to train changes the training items.
	moved := &video.Manifest{Records: slices.Clone(m.Records)}
	for i, r := range moved.Records {
		if r.Split == video.SplitVal {
			moved.Records[i].Split = video.SplitTrain
			break
		}
	}
	c.Splits, c.Epochs = nil, 1
	dir = t.TempDir()
	if _, err := Run(t.Context(), c, m, dir); err != nil {
		t.Fatal(err)
	}
	c.Epochs = 2
	if _, err := Run(t.Context(), c, moved, dir); err == nil || !strings.Contains(err.Error(), "the checkpoint was trained on other data") {
		t.Errorf("resuming on a changed training split: error %v", err)
	}
}
