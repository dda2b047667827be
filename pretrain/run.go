package pretrain

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/pretext"
	"github.com/vidssl/vidssl/video"
)

// Progress reports a run's progress; Run calls Config.Progress with it after
// every step.
type Progress struct {
	// Epoch (from 1) and Epochs locate the step's epoch.
	Epoch, Epochs int
	// Step is the number of steps done in the epoch, of Steps.
	Step, Steps int
	// Loss, NTXent and Order are the step's losses (Order: the mean of the
	// two views' cross-entropies; 0 without frame order).
	Loss, NTXent, Order float64
	// Done is set after an epoch's last step: the epoch's summary.
	Done *EpochStats
	// Checkpoint is the path of the checkpoint written after this step, if
	// one was.
	Checkpoint string
}

// Result is what a finished Run returns.
type Result struct {
	// Model is the trained model.
	Model *Model
	// History has one row per epoch, from the first (including epochs run
	// before a resumption).
	History []EpochStats
	// ResumedFrom is the checkpoint the run resumed from; "" for a new run.
	ResumedFrom string
	// Checkpoint is the last checkpoint written: the final epoch's.
	Checkpoint string
}

// Run pretrains cfg.Method on the records of m in cfg.Splits (by default the
// training split: the records whose Split is "train") and writes its
// checkpoints and history into dir, which it creates if needed. PlanRun
// tells, without decoding a video, how many pairs and steps an epoch has.
//
// Data: SimCLR takes one item per video, the multi-instance methods one item
// per unordered pair of videos of a study (or patient, cfg.GroupBy); see
// contrastive.SimCLRItems and MultiInstanceItems. A video.Loader makes the
// two views of every pair (contrastive.PairSampler: ClipLength-frame clips,
// the paper's augmentation, then for frame order pretext.RandomShuffle of
// each view), shuffled per epoch, BatchPairs pairs per step; the last
// partial batch of an epoch is dropped (as the public code's drop_last), so
// one graph, built at the first step, serves every step.
//
// Step: the encoder runs on each view separately, as in the public code (so
// batch norm normalises each view with its own statistics and updates its
// running statistics twice per step), with the same Params bound once in one
// graph; z = projector(h); loss = ContrastiveWeight * NTXent(z1, z2) +
// OrderWeight * (CE(order(h1), y1) + CE(order(h2), y2)) / 2, with the
// contrastive loss computed on the shuffled clips; cfg.Optimizer (the
// paper's Adam) updates every learnable Param of the encoder and the heads.
//
// Checkpoints are safetensors files, written atomically, holding the model
// (the encoder under EncoderPrefix, the heads), the optimiser's state (under
// OptimizerPrefix) and, as metadata, the Config, the position, the history
// and the running sums of an unfinished epoch: EpochName(e) after every
// cfg.CheckpointEvery-th epoch and the last, and, when ctx is cancelled, an
// "interrupted-epoch-E-step-S" checkpoint of the exact point reached (older
// interrupted checkpoints are removed). history.csv (see EpochStats) is
// rewritten atomically after every epoch.
//
// Resuming: when dir already holds checkpoints, Run continues from the one
// furthest along (LatestCheckpoint), which must have the same Config (up to
// Epochs, CheckpointEvery, Workers, CacheBytes and the functions) and the
// same training items (cfg.Splits is one of the settings, and the items'
// fingerprint is checked as well). Every random draw is a function of the
// seed, the epoch and the item (the loader's streams; the model's
// initialisation from the seed alone), so a resumed run computes exactly
// what an uninterrupted one does. Resuming mid-epoch loads the epoch's
// first batches again (decoding and sampling only) to reach the step. A run
// killed without cancellation resumes from its last epoch checkpoint and
// loses the epochs since.
//
// Errors name the epoch and step. A NaN or infinite loss or gradient stops
// the run with an error and changes no Param of that step (batch-norm
// running statistics excepted); no checkpoint is written for it. When ctx is
// cancelled, Run writes the interrupted checkpoint and returns an error
// that wraps ctx's (errors.Is(err, context.Canceled)).
func Run(ctx context.Context, cfg Config, m *video.Manifest, dir string) (*Result, error) {
	r, err := newRunner(cfg, m, dir)
	if err != nil {
		return nil, err
	}
	return r.run(ctx)
}

// runner holds a run's state.
type runner struct {
	cfg     Config
	dir     string
	model   *Model
	opt     nn.Optimizer // cfg.Optimizer's, an *nn.Adam or *nn.SGD
	loader  *video.Loader
	steps   int // per epoch
	st      runState
	resumed string
	trainer stepper   // made at the first step
	saved   *Position // position of the newest checkpoint on disk; nil: none
}

// Plan is what a run trains on, known before it starts (see PlanRun).
type Plan struct {
	// Splits are the splits trained on, sorted ("" is the records without
	// a split).
	Splits []string
	// Records and Studies count the videos and studies of those splits.
	Records, Studies int
	// Pairs is the number of positive pairs (training items) per epoch:
	// one per video for SimCLR, one per unordered pair of videos of a
	// study (or patient) for the multi-instance methods.
	Pairs int
	// StepsPerEpoch is Pairs / Config.BatchPairs, rounded down: the last
	// partial batch of an epoch is dropped.
	StepsPerEpoch int
	// Dropped is the number of pairs of that last partial batch; which
	// pairs they are changes every epoch.
	Dropped int
}

// String reads "SPLITS: R records of S studies, P pairs, N steps per epoch
// of B pairs (D dropped)".
func (p Plan) String() string {
	batch := 0
	if p.StepsPerEpoch > 0 {
		batch = (p.Pairs - p.Dropped) / p.StepsPerEpoch
	}
	return fmt.Sprintf("splits %q: %d records of %d studies, %d pairs, %d steps per epoch of %d pairs (%d dropped)",
		p.Splits, p.Records, p.Studies, p.Pairs, p.StepsPerEpoch, batch, p.Dropped)
}

// PlanRun returns what Run would train on with cfg and m: the records of
// cfg.Splits, the number of pairs and the steps per epoch. It decodes
// nothing, so it is quick, and a data set too small for one batch of
// cfg.BatchPairs is an error (with the numbers) at once rather than when
// training starts.
func PlanRun(cfg Config, m *video.Manifest) (Plan, error) {
	p, _, err := plan(cfg, m)
	return p, err
}

// plan is PlanRun, returning the training items as well.
func plan(cfg Config, m *video.Manifest) (Plan, []video.Item, error) {
	if err := cfg.Validate(); err != nil {
		return Plan{}, nil, err
	}
	if m == nil {
		return Plan{}, nil, fmt.Errorf("pretrain: nil manifest")
	}
	p := Plan{Splits: cfg.splits()}
	data := &video.Manifest{}
	for _, r := range m.Records {
		if slices.Contains(p.Splits, r.Split) {
			data.Records = append(data.Records, r)
		}
	}
	p.Records, p.Studies = len(data.Records), len(data.Studies())
	if p.Records == 0 {
		return p, nil, fmt.Errorf("pretrain: the manifest has no records in splits %q (Config.Splits) among %d", p.Splits, len(m.Records))
	}
	var items []video.Item
	var err error
	if cfg.Method.MultiInstance() {
		items, err = contrastive.MultiInstanceItems(data, cfg.GroupBy)
	} else {
		items, err = contrastive.SimCLRItems(data, cfg.GroupBy)
	}
	if err != nil {
		return p, nil, fmt.Errorf("pretrain: %w", err)
	}
	p.Pairs = len(items)
	p.StepsPerEpoch, p.Dropped = p.Pairs/cfg.BatchPairs, p.Pairs%cfg.BatchPairs
	if p.StepsPerEpoch == 0 {
		return p, nil, fmt.Errorf("pretrain: %d training pairs from %d records of %d studies in splits %q, fewer than one batch of %d (BatchPairs)",
			p.Pairs, p.Records, p.Studies, p.Splits, cfg.BatchPairs)
	}
	return p, items, nil
}

// sharedOrderSampler shuffles both views that sample makes by one random
// permutation and labels them with its class (Config.SharedOrder).
func sharedOrderSampler(sample video.SampleFunc) video.SampleFunc {
	return func(rng *rand.Rand, item video.Item, videos []*video.Video) ([]video.View, error) {
		views, err := sample(rng, item, videos)
		if err != nil {
			return nil, err
		}
		perm := rng.Perm(views[0].Clip.T)
		for k := range views {
			c, label, err := pretext.Shuffle(views[k].Clip, perm)
			if err != nil {
				return nil, fmt.Errorf("pretrain: shared frame order: view %d: %w", k+1, err)
			}
			views[k] = video.View{Clip: c, Label: label}
		}
		return views, nil
	}
}

// TrainLoader returns the loader Run trains with on m, and the plan of
// PlanRun: the pairs of cfg.Method (contrastive.SimCLRItems or
// MultiInstanceItems) of cfg.Splits' records, two augmented views of
// cfg.ClipLength frames per pair (contrastive.PairSampler, each view's
// frames shuffled for frame order, by one permutation per pair with
// SharedOrder), cfg.BatchPairs pairs per batch in an order shuffled every
// epoch by cfg.Seed, the last partial batch dropped, decoded, preprocessed
// and cached as cfg.Settings say. Its clips have the encoder's channels:
// cfg.Model.InChannels, or, with cfg.NewEncoder, those of the encoder it
// makes (which TrainLoader then calls once). Its batches are Run's, for
// measuring or inspecting what pretraining sees.
func TrainLoader(cfg Config, m *video.Manifest) (*video.Loader, Plan, error) {
	p, items, err := plan(cfg, m)
	if err != nil {
		return nil, p, err
	}
	channels := cfg.Model.InChannels
	if cfg.NewEncoder != nil {
		enc, err := newEncoder(cfg, rand.New(rand.NewPCG(cfg.Seed, initStream)))
		if err != nil {
			return nil, p, err
		}
		channels = enc.InChannels()
	}
	loader, err := newLoader(cfg, items, channels)
	return loader, p, err
}

// newLoader returns Run's loader of items, whose clips have channels
// channels.
func newLoader(cfg Config, items []video.Item, channels int) (*video.Loader, error) {
	var post contrastive.ViewFunc
	if cfg.Method.FrameOrder() && !cfg.SharedOrder {
		post = pretext.RandomShuffle
	}
	sample := contrastive.PairSampler(cfg.ClipLength, post)
	if cfg.Method.FrameOrder() && cfg.SharedOrder {
		sample = sharedOrderSampler(sample)
	}
	decode := cfg.Decode
	if decode == nil {
		decode = video.ReadFile
	}
	loader, err := video.NewLoader(video.LoaderConfig{
		Items:      items,
		Decode:     decode,
		Preprocess: cfg.Preprocess,
		Sample:     sample,
		BatchSize:  cfg.BatchPairs,
		Shuffle:    true,
		DropLast:   true,
		Seed:       cfg.Seed,
		Workers:    cfg.Workers,
		CacheBytes: cfg.CacheBytes,
		Batch:      video.BatchOptions{Channels: channels},
	})
	if err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	return loader, nil
}

func newRunner(cfg Config, m *video.Manifest, dir string) (*runner, error) {
	_, items, err := plan(cfg, m)
	if err != nil {
		return nil, err
	}
	model, err := NewModel(cfg)
	if err != nil {
		return nil, err
	}
	opt, err := cfg.Optimizer.New(cfg.LR)
	if err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	loader, err := newLoader(cfg, items, model.Encoder.InChannels())
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, dir: dir, model: model, opt: opt, loader: loader, steps: loader.NumBatches(),
		st: runState{Config: cfg, Items: len(items), Data: fingerprint(items)}}
	if cfg.NewEncoder != nil {
		r.st.Encoder = encoderIdentity(model.Encoder)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	if err := r.resume(); err != nil {
		return nil, err
	}
	return r, nil
}

// resume loads the latest checkpoint in the run's directory, if any.
func (r *runner) resume() error {
	path, _, err := LatestCheckpoint(r.dir)
	if err != nil || path == "" {
		return err
	}
	st, err := loadCheckpoint(path, r.model, r.opt, func(st *runState) error {
		want, err := r.cfg.identity(r.st.Encoder)
		if err != nil {
			return err
		}
		have, err := st.Config.identity(st.Encoder)
		if err != nil {
			return err
		}
		if want != have {
			return fmt.Errorf("pretrain: resume from %s: the checkpoint was made with other settings: %s; use those settings or another directory", path, identityDiff(have, want))
		}
		if st.Items != r.st.Items || st.Data != r.st.Data {
			return fmt.Errorf("pretrain: resume from %s: the checkpoint was trained on other data (%d items, fingerprint %s; this manifest gives %d, %s)", path, st.Items, st.Data, r.st.Items, r.st.Data)
		}
		if st.Position.Step >= r.steps {
			return fmt.Errorf("pretrain: resume from %s: position %+v is past an epoch of %d steps", path, st.Position, r.steps)
		}
		return nil
	})
	if err != nil {
		return err
	}
	st.Config = r.cfg
	r.st, r.resumed = *st, path
	pos := st.Position
	r.saved = &pos
	return nil
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	res := &Result{Model: r.model, ResumedFrom: r.resumed}
	defer func() {
		if r.trainer != nil {
			r.trainer.close()
		}
	}()
	if r.st.Position.Epoch >= r.cfg.Epochs {
		res.History = append([]EpochStats(nil), r.st.History...)
		res.Checkpoint = r.resumed
		return res, nil
	}
	for epoch := r.st.Position.Epoch + 1; epoch <= r.cfg.Epochs; epoch++ {
		if err := r.epoch(ctx, epoch, res); err != nil {
			return nil, err
		}
	}
	res.History = append([]EpochStats(nil), r.st.History...)
	return res, nil
}

// epoch runs (the rest of) one epoch and its checkpoint.
func (r *runner) epoch(ctx context.Context, epoch int, res *Result) error {
	skip := r.st.Position.Step
	mark := time.Now()
	index := 0
	for step, err := range r.loader.Batches(ctx, epoch) {
		if err != nil {
			if ctx.Err() != nil {
				return r.interrupt(ctx)
			}
			return fmt.Errorf("pretrain: epoch %d step %d of %d: %w", epoch, index+1, r.steps, err)
		}
		if index < skip {
			index++
			continue
		}
		out, err := r.trainStep(ctx, step, r.cfg.contrastiveWeight(epoch, r.st.History))
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return r.interrupt(ctx)
			}
			return fmt.Errorf("pretrain: epoch %d step %d of %d: %w", epoch, index+1, r.steps, err)
		}
		index++
		now := time.Now()
		p := &r.st.Partial
		p.Steps++
		p.Loss += out.loss
		p.NTXent += out.ntxent
		p.Order += out.order
		p.OrderHits += out.hits
		p.OrderSamples += out.samples
		p.Seconds += now.Sub(mark).Seconds()
		mark = now
		r.st.Position.Step = p.Steps
		prog := Progress{Epoch: epoch, Epochs: r.cfg.Epochs, Step: p.Steps, Steps: r.steps, Loss: out.loss, NTXent: out.ntxent, Order: out.order}
		if p.Steps == r.steps {
			stats, path, err := r.finishEpoch(ctx, epoch)
			if err != nil {
				if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
					return r.interrupt(ctx)
				}
				return err
			}
			prog.Done, prog.Checkpoint = &stats, path
			if path != "" {
				res.Checkpoint = path
			}
		}
		if r.cfg.Progress != nil {
			r.cfg.Progress(prog)
		}
	}
	if r.st.Position.Epoch != epoch {
		return fmt.Errorf("pretrain: epoch %d ended after %d of %d steps", epoch, r.st.Position.Step, r.steps)
	}
	return nil
}

// finishEpoch records an epoch's summary, runs the monitor when it is due,
// rewrites the history and writes the epoch's checkpoint when one is due.
// A monitor cancelled by ctx leaves the epoch recorded without its probes.
func (r *runner) finishEpoch(ctx context.Context, epoch int) (EpochStats, string, error) {
	p := r.st.Partial
	n := float64(p.Steps)
	stats := EpochStats{Epoch: epoch, Steps: p.Steps, Loss: p.Loss / n, NTXent: p.NTXent / n, Order: p.Order / n, Seconds: p.Seconds}
	if p.OrderSamples > 0 {
		stats.OrderAccuracy = float64(p.OrderHits) / float64(p.OrderSamples)
	}
	r.st.History = append(r.st.History, stats)
	r.st.Position = Position{Epoch: epoch}
	r.st.Partial = partial{}
	if mon := r.cfg.Monitor; mon != nil && (epoch%mon.Every == 0 || epoch == r.cfg.Epochs) {
		res, err := r.monitor(ctx)
		if err != nil {
			return stats, "", fmt.Errorf("pretrain: epoch %d: %w", epoch, err)
		}
		stats.Probed, stats.LinearAUROC, stats.KNNAUROC, stats.HeldOutOrderAccuracy = true, res.LinearAUROC, res.KNNAUROC, res.order
		r.st.History[len(r.st.History)-1] = stats
	}
	if err := writeHistory(r.dir, r.st.History); err != nil {
		return stats, "", err
	}
	if epoch != r.cfg.Epochs && (r.cfg.CheckpointEvery == 0 || epoch%r.cfg.CheckpointEvery != 0) {
		return stats, "", nil
	}
	path := filepath.Join(r.dir, EpochName(epoch))
	if err := r.save(path); err != nil {
		return stats, "", err
	}
	return stats, path, nil
}

// interrupt writes the checkpoint of the point reached (unless the newest
// checkpoint is already there, or nothing was done) and returns the
// cancellation error.
func (r *runner) interrupt(ctx context.Context) error {
	pos := r.st.Position
	if (r.saved != nil && *r.saved == pos) || (r.saved == nil && pos == Position{}) {
		return fmt.Errorf("pretrain: interrupted at epoch %d step %d (nothing new to save): %w", pos.Epoch+1, pos.Step, context.Cause(ctx))
	}
	path := filepath.Join(r.dir, interruptedName(pos))
	if err := r.save(path); err != nil {
		return fmt.Errorf("pretrain: interrupted at epoch %d step %d: %w (and %w)", pos.Epoch+1, pos.Step, context.Cause(ctx), err)
	}
	return fmt.Errorf("pretrain: interrupted at epoch %d step %d, checkpoint %s: %w", pos.Epoch+1, pos.Step, path, context.Cause(ctx))
}

// save writes a checkpoint of the current state to path and removes the
// interrupted checkpoints it supersedes (all others: none is further along,
// since the run resumed from the furthest).
func (r *runner) save(path string) error {
	if err := r.sync(); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	if err := saveCheckpoint(path, r.model, r.opt, &r.st); err != nil {
		return err
	}
	pos := r.st.Position
	r.saved = &pos
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return nil // the checkpoint is written; stale files are harmless
	}
	for _, e := range entries {
		if p, ok := parseName(e.Name()); ok && strings.HasPrefix(e.Name(), "interrupted-") && e.Name() != filepath.Base(path) && !pos.Less(p) {
			os.Remove(filepath.Join(r.dir, e.Name()))
		}
	}
	return nil
}

// stepOut is one step's numbers.
type stepOut struct {
	loss, ntxent, order float64
	hits, samples       int
}

// stepGraph is the training graph of one batch shape.
type stepGraph struct {
	shape          [5]int
	cw             float64 // NT-Xent's weight
	prog           *nn.Program
	x1, x2, groups *G.Node
	y1, y2         *G.Node
	ntxent         *G.Node
	ce1, ce2       *G.Node
	o1, o2         *G.Node
}

// build makes the training graph for batches of the given shape, with
// NT-Xent weighed by cw.
func (r *runner) build(shape [5]int, cw float64) (*stepGraph, error) {
	cfg, m := r.cfg, r.model
	g := nn.NewGraph(true, nil)
	s := &stepGraph{shape: shape, cw: cw}
	s.x1 = g.Input("view1", shape[:]...)
	s.x2 = g.Input("view2", shape[:]...)
	n := shape[0]
	h1, err := m.Encoder.Forward(g, s.x1)
	if err != nil {
		return nil, err
	}
	h2, err := m.Encoder.Forward(g, s.x2)
	if err != nil {
		return nil, err
	}
	z1, err := m.Projector.Forward(g, h1)
	if err != nil {
		return nil, err
	}
	z2, err := m.Projector.Forward(g, h2)
	if err != nil {
		return nil, err
	}
	if cfg.MaskSameGroup {
		s.groups = g.Input("groups", n)
	}
	if s.ntxent, err = contrastive.NTXent(z1, z2, s.groups, cfg.Tau); err != nil {
		return nil, err
	}
	loss, err := G.Mul(s.ntxent, G.NewConstant(float32(cw)))
	if err != nil {
		return nil, err
	}
	if m.Order != nil {
		s.y1, s.y2 = g.Input("order1", n), g.Input("order2", n)
		if s.o1, err = m.Order.Forward(g, h1); err != nil {
			return nil, err
		}
		if s.o2, err = m.Order.Forward(g, h2); err != nil {
			return nil, err
		}
		if s.ce1, err = pretext.Loss(s.o1, s.y1); err != nil {
			return nil, err
		}
		if s.ce2, err = pretext.Loss(s.o2, s.y2); err != nil {
			return nil, err
		}
		sum, err := G.Add(s.ce1, s.ce2)
		if err != nil {
			return nil, err
		}
		order, err := G.Mul(sum, G.NewConstant(float32(cfg.OrderWeight/2)))
		if err != nil {
			return nil, err
		}
		if loss, err = G.Add(loss, order); err != nil {
			return nil, err
		}
	}
	if s.prog, err = nn.NewTrainer(g, loss, r.opt); err != nil {
		return nil, err
	}
	return s, nil
}

// trainStep runs one training step on a loader step, with NT-Xent weighed
// by cw.
func (r *runner) trainStep(ctx context.Context, step *video.Step, cw float64) (stepOut, error) {
	if len(step.Views) != 2 {
		return stepOut{}, fmt.Errorf("%d views, want 2", len(step.Views))
	}
	v1, v2 := step.Views[0], step.Views[1]
	if v1.Shape != v2.Shape {
		return stepOut{}, fmt.Errorf("views of shapes %v and %v", v1.Shape, v2.Shape)
	}
	if r.trainer == nil {
		if err := checkEncoder(r.model.Encoder, v1.Shape); err != nil {
			return stepOut{}, err
		}
		r.trainer = &cpuStep{r: r}
		if r.cfg.Engine != nil {
			r.trainer = &deviceStep{r: r}
		}
	}
	return r.trainer.step(ctx, v1, v2, cw)
}

// sync brings the trained state back to the model and the optimiser, for
// a checkpoint or the monitor.
func (r *runner) sync() error {
	if r.trainer == nil {
		return nil
	}
	return r.trainer.sync()
}

// stepper is a training step on the CPU (cpuStep) or on cfg.Engine
// (deviceStep), made at a run's first step.
type stepper interface {
	// step trains on the two views of a batch, with NT-Xent weighed by cw.
	step(ctx context.Context, v1, v2 *video.Batch, cw float64) (stepOut, error)
	// sync copies the trained state into the model and the optimiser.
	sync() error
	close()
}

// cpuStep is the training step as an nn graph on the CPU, built for the
// first batch's shape and again when NT-Xent's weight changes.
type cpuStep struct {
	r     *runner
	graph *stepGraph
}

func (c *cpuStep) sync() error { return nil }

func (c *cpuStep) close() {
	if c.graph != nil {
		c.graph.prog.Close()
	}
}

func (c *cpuStep) step(ctx context.Context, v1, v2 *video.Batch, cw float64) (stepOut, error) {
	r := c.r
	if c.graph != nil && c.graph.cw != cw {
		// The warm-up is over: a graph with the new weight, the same
		// Params and optimiser.
		c.graph.prog.Close()
		c.graph = nil
	}
	if c.graph == nil {
		g, err := r.build(v1.Shape, cw)
		if err != nil {
			return stepOut{}, fmt.Errorf("build the graph for batches %v: %w", v1.Shape, err)
		}
		c.graph = g
	}
	s := c.graph
	if v1.Shape != s.shape {
		return stepOut{}, fmt.Errorf("batch shape %v differs from the first batch's %v: make every video the same size (Config.Preprocess)", v1.Shape, s.shape)
	}
	feeds := []nn.Feed{{Node: s.x1, Data: v1.Data}, {Node: s.x2, Data: v2.Data}}
	if s.groups != nil {
		feeds = append(feeds, nn.Feed{Node: s.groups, Data: contrastive.GroupCodes(v1.Groups).Float32s()})
	}
	if s.y1 != nil {
		feeds = append(feeds, nn.Feed{Node: s.y1, Data: labels(v1.Labels)}, nn.Feed{Node: s.y2, Data: labels(v2.Labels)})
	}
	loss, err := s.prog.Run(ctx, feeds...)
	if err != nil {
		return stepOut{}, err
	}
	var out stepOut
	out.loss = float64(loss)
	ntx, err := nn.ScalarValue(s.ntxent.Value())
	if err != nil {
		return stepOut{}, err
	}
	out.ntxent = float64(ntx)
	if s.ce1 != nil {
		c1, err1 := nn.ScalarValue(s.ce1.Value())
		c2, err2 := nn.ScalarValue(s.ce2.Value())
		if err := errors.Join(err1, err2); err != nil {
			return stepOut{}, err
		}
		out.order = (float64(c1) + float64(c2)) / 2
		k := r.model.Order.Classes()
		for i, v := range []*video.Batch{v1, v2} {
			logits := []*G.Node{s.o1, s.o2}[i].Value().Data().([]float32)
			acc, err := pretext.Accuracy(logits, v.Labels, k)
			if err != nil {
				return stepOut{}, err
			}
			out.hits += int(math.Round(acc * float64(len(v.Labels))))
			out.samples += len(v.Labels)
		}
	}
	if math.IsNaN(out.loss) || math.IsInf(out.loss, 0) {
		return stepOut{}, fmt.Errorf("loss is %v", out.loss)
	}
	return out, nil
}

// fingerprint identifies a run's training items: a hash of their IDs,
// groups and paths, in order.
func fingerprint(items []video.Item) string {
	h := fnv.New64a()
	for _, it := range items {
		fmt.Fprintf(h, "%q %q %q\n", it.ID, it.Group, it.Paths)
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// labels converts class labels to the float32 values of a labels node.
func labels(ls []int) []float32 {
	out := make([]float32, len(ls))
	for i, v := range ls {
		out[i] = float32(v)
	}
	return out
}
