package finetune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/video"
)

// dropoutStream is the PCG stream of the dropout masks.
const dropoutStream = 0xd209_0a7

// EpochStats summarises one epoch of one run.
type EpochStats struct {
	// LR is the run's learning rate.
	LR float64
	// Epoch counts from 1.
	Epoch int
	// Steps is the number of training steps (batches).
	Steps int
	// TrainLoss is the mean training loss over the epoch's videos (each
	// step's loss weighted by its batch size), with dropout and
	// augmentation, before each step's update.
	TrainLoss float64
	// ValLoss is the mean BCEWithLogits (with the training pos_weight) over
	// every evaluation clip of the validation videos, in evaluation mode,
	// after the epoch.
	ValLoss float64
	// Seconds is the wall-clock time of the epoch, validation included.
	Seconds float64
	// Best is set when ValLoss is the lowest of the run so far.
	Best bool
}

// Run is the outcome of training at one learning rate.
type Run struct {
	// LR is the learning rate.
	LR float64
	// History has one row per epoch trained.
	History []EpochStats
	// BestEpoch is the epoch (from 1) of the lowest validation loss, whose
	// weights the run kept, and BestValLoss that loss.
	BestEpoch   int
	BestValLoss float64
	// Stopped is set when early stopping ended the run before MaxEpochs.
	Stopped bool
}

// Result is what FineTune returns.
type Result struct {
	// Model is the fine-tuned model (the one FineTune was given), holding
	// the weights of the best epoch of the chosen run.
	Model nn.Module
	// LR is the chosen learning rate, and Runs[Chosen] its run.
	LR     float64
	Chosen int
	// Runs has one entry per learning rate tried, in the order tried.
	Runs []Run
	// PosWeight is BCEWithLogits' pos_weight: negative over positive
	// training videos.
	PosWeight float32
	// TrainVideos and ValVideos count the videos trained and validated on.
	TrainVideos, ValVideos int
}

// History returns the epochs of every run, in order.
func (r *Result) History() []EpochStats {
	var h []EpochStats
	for _, run := range r.Runs {
		h = append(h, run.History...)
	}
	return h
}

// Progress reports FineTune's progress; see Config.Progress.
type Progress struct {
	// Run (from 1) of Runs is the learning rate being tried, LR.
	Run, Runs int
	LR        float64
	// Epoch (from 1) of MaxEpochs is the epoch.
	Epoch, MaxEpochs int
	// Step of Steps training steps are done in the epoch.
	Step, Steps int
	// Loss is the last step's training loss.
	Loss float64
	// Done is set once per epoch, after validation: the epoch's summary.
	Done *EpochStats
}

// FineTune trains model, which it changes in place, to tell severe AS from
// the rest on the videos of train, choosing weights by the validation loss
// on val, as the paper does:
//
//   - loss: BCEWithLogits with pos_weight = negative / positive training
//     videos (PosWeight), on the logit after dropout (cfg.DropoutP);
//   - data: every epoch, one random cfg.ClipLength-frame clip per training
//     video with the paper's pad/crop, flip and rotate augmentation
//     (video.TrainClipSampler), videos shuffled, cfg.BatchSize per step; the
//     last, smaller batch is trained on too (one graph per batch size, all
//     sharing the model's Params and one optimiser);
//   - optimiser: cfg.Optimizer (the paper's: Adam without weight decay),
//     without schedule;
//   - after every epoch, the validation loss (the mean BCEWithLogits, with
//     the same pos_weight, over the video.EvalClips evaluation clips of every
//     validation video, in evaluation mode); the weights (Params and batch
//     norm buffers) of the lowest validation loss are kept, training stops
//     after cfg.Patience epochs without a lower one or after cfg.MaxEpochs,
//     and the kept weights are put back into the model;
//   - learning rate: cfg.LearningRates(fraction), one run each from the
//     model's weights as given, with the same seed; the run of the lowest
//     best validation loss wins (the first on a tie) and its weights end in
//     the model.
//
// model is usually NewModel's, but any nn.Module that maps clips (N,
// Config.Model.InChannels, ClipLength, H, W) to one logit per clip (N, 1)
// will do (on an Engine, one built of the layers gpu runs); one that does
// not is an error naming the shapes, before any graph runs.
//
// fraction is the label fraction that train represents (1 for all training
// labels); it only chooses the learning rates. Every record of train and
// val must be labelled, and train must hold both classes (see
// SubsetsBothClasses).
//
// A NaN or infinite loss stops FineTune with an error naming the learning
// rate, epoch and step (the failed step changes no Param, batch-norm
// running statistics excepted). When ctx is cancelled FineTune returns
// promptly with an error wrapping ctx.Err(); the model then holds the
// weights of the step reached.
func FineTune(ctx context.Context, cfg Config, model nn.Module, train, val *video.Manifest, fraction float64) (*Result, error) {
	if err := checkModel(cfg, model); err != nil {
		return nil, err
	}
	if !(fraction > 0 && fraction <= 1) {
		return nil, fmt.Errorf("finetune: label fraction %v, want (0, 1]", fraction)
	}
	r, err := newRunner(cfg, model, train, val)
	if err != nil {
		return nil, err
	}
	defer r.close()
	res := &Result{Model: model, PosWeight: r.posWeight, TrainVideos: len(train.Records), ValVideos: len(val.Records)}
	runs, chosen, err := sweep(ctx, cfg, r, cfg.LearningRates(fraction))
	if err != nil {
		return nil, err
	}
	res.Runs, res.Chosen, res.LR = runs, chosen, runs[chosen].LR
	return res, nil
}

// fitter is what the training loop needs from a model and its data; tests
// replace it.
type fitter interface {
	// params returns every Param and buffer of the model.
	params() []*nn.Param
	// start prepares a run at learning rate lr: a fresh optimiser state and
	// the random streams from the start. The caller sets the weights.
	start(lr float64) error
	// trainEpoch trains one epoch and returns the mean training loss and
	// the number of steps; report is called after every step.
	trainEpoch(ctx context.Context, epoch int, report func(step, steps int, loss float64)) (float64, int, error)
	// validate returns the validation loss.
	validate(ctx context.Context) (float64, error)
}

// snapshot copies the values of params.
func snapshot(params []*nn.Param) [][]float32 {
	s := make([][]float32, len(params))
	for i, p := range params {
		s[i] = append([]float32(nil), p.Data()...)
	}
	return s
}

// snapshotInto copies the values of params into s, which snapshot made.
func snapshotInto(s [][]float32, params []*nn.Param) [][]float32 {
	if s == nil {
		return snapshot(params)
	}
	for i, p := range params {
		copy(s[i], p.Data())
	}
	return s
}

// restore copies a snapshot back into params.
func restore(params []*nn.Param, s [][]float32) {
	for i, p := range params {
		copy(p.Data(), s[i])
	}
}

// sweep trains one run per learning rate, each from the weights the model
// had on entry, and leaves the model with the best run's kept weights.
func sweep(ctx context.Context, cfg Config, f fitter, lrs []float64) ([]Run, int, error) {
	if len(lrs) == 0 {
		return nil, 0, fmt.Errorf("finetune: no learning rates")
	}
	params := f.params()
	var initial, winner [][]float32
	if len(lrs) > 1 {
		initial = snapshot(params)
	}
	var runs []Run
	var history []EpochStats
	chosen := -1
	for i, lr := range lrs {
		if i > 0 {
			restore(params, initial)
		}
		run, err := fit(ctx, cfg, f, lr, i+1, len(lrs), &history)
		if err != nil {
			return nil, 0, err
		}
		runs = append(runs, run)
		if chosen < 0 || run.BestValLoss < runs[chosen].BestValLoss {
			chosen = i
			if len(lrs) > 1 && i < len(lrs)-1 {
				winner = snapshotInto(winner, params)
			} else {
				winner = nil // the model holds the winner
			}
		}
	}
	if winner != nil {
		restore(params, winner)
	}
	return runs, chosen, nil
}

// fit trains one run at learning rate lr with early stopping and leaves the
// model with the weights of its lowest validation loss. history collects the
// epochs of every run, for the history file.
func fit(ctx context.Context, cfg Config, f fitter, lr float64, run, runs int, history *[]EpochStats) (Run, error) {
	where := fmt.Sprintf("finetune: lr %g", lr)
	if err := f.start(lr); err != nil {
		return Run{}, fmt.Errorf("%s: %w", where, err)
	}
	params := f.params()
	res := Run{LR: lr, BestValLoss: math.Inf(1)}
	var best [][]float32
	since := 0
	for epoch := 1; epoch <= cfg.MaxEpochs; epoch++ {
		t0 := time.Now()
		report := func(step, steps int, loss float64) {
			if cfg.Progress != nil {
				cfg.Progress(Progress{Run: run, Runs: runs, LR: lr, Epoch: epoch, MaxEpochs: cfg.MaxEpochs, Step: step, Steps: steps, Loss: loss})
			}
		}
		trainLoss, steps, err := f.trainEpoch(ctx, epoch, report)
		if err != nil {
			return Run{}, fmt.Errorf("%s: epoch %d: %w", where, epoch, err)
		}
		valLoss, err := f.validate(ctx)
		if err != nil {
			return Run{}, fmt.Errorf("%s: epoch %d: validation: %w", where, epoch, err)
		}
		st := EpochStats{LR: lr, Epoch: epoch, Steps: steps, TrainLoss: trainLoss, ValLoss: valLoss, Seconds: time.Since(t0).Seconds()}
		if valLoss < res.BestValLoss {
			res.BestValLoss, res.BestEpoch, st.Best = valLoss, epoch, true
			best = snapshotInto(best, params)
			since = 0
		} else {
			since++
		}
		res.History = append(res.History, st)
		*history = append(*history, st)
		if cfg.HistoryPath != "" {
			if err := WriteHistory(cfg.HistoryPath, *history); err != nil {
				return Run{}, fmt.Errorf("%s: epoch %d: %w", where, epoch, err)
			}
		}
		if cfg.Progress != nil {
			done := st
			cfg.Progress(Progress{Run: run, Runs: runs, LR: lr, Epoch: epoch, MaxEpochs: cfg.MaxEpochs, Step: steps, Steps: steps, Loss: trainLoss, Done: &done})
		}
		if cfg.Patience > 0 && since >= cfg.Patience && epoch < cfg.MaxEpochs {
			res.Stopped = true
			break
		}
	}
	if best == nil { // unreachable: a finite first validation loss is always the best so far
		return Run{}, fmt.Errorf("%s: no epoch had a finite validation loss", where)
	}
	restore(params, best)
	return res, nil
}

// trainGraph is the training program of one batch size.
type trainGraph struct {
	g    *nn.Graph
	prog *nn.Program
	x, y *G.Node
}

// runner is the fitter of FineTune: a model, its loaders and its programs.
type runner struct {
	cfg       Config
	model     nn.Module
	all       []*nn.Param
	loader    *video.Loader
	steps     int
	val       *evaluator
	posWeight float32
	opt       nn.Optimizer // cfg.Optimizer's, an *nn.Adam or *nn.SGD
	pcg       *rand.PCG
	rng       *rand.Rand
	train     stepper // the training step, on the CPU or cfg.Engine
	shape     [4]int  // C, T, H, W of the first batch
	labels    []float32
}

func newRunner(cfg Config, model nn.Module, train, val *video.Manifest) (*runner, error) {
	if train == nil || len(train.Records) == 0 {
		return nil, fmt.Errorf("finetune: no training videos")
	}
	if val == nil || len(val.Records) == 0 {
		return nil, fmt.Errorf("finetune: no validation videos")
	}
	pw, err := PosWeight(train)
	if err != nil {
		return nil, fmt.Errorf("finetune: training set: %w", err)
	}
	opt, err := cfg.Optimizer.New(cfg.LR)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	for _, r := range val.Records {
		if r.Label != 0 && r.Label != 1 {
			return nil, fmt.Errorf("finetune: validation set: %s row %d (%s): label %d, want 0 or 1", r.File, r.Row, r.Path, r.Label)
		}
	}
	loader, err := trainLoader(cfg, train)
	if err != nil {
		return nil, err
	}
	ev, err := newEvaluator(cfg, model, val)
	if err != nil {
		return nil, fmt.Errorf("finetune: validation set: %w", err)
	}
	pcg := rand.NewPCG(cfg.Seed, dropoutStream)
	r := &runner{cfg: cfg, model: model, all: model.Params(), loader: loader, steps: loader.NumBatches(), val: ev,
		posWeight: pw, opt: opt, pcg: pcg, rng: rand.New(pcg)}
	r.train = &cpuSteps{r: r, graphs: map[int]*trainGraph{}}
	if cfg.Engine != nil {
		r.train = &deviceSteps{r: r}
	}
	return r, nil
}

// TrainLoader returns the loader FineTune trains with on train: one
// augmented clip of cfg.ClipLength frames per video (video.TrainClipSampler),
// cfg.BatchSize videos per batch in an order shuffled every epoch by
// cfg.Seed, the last batch kept, decoded, preprocessed and cached as
// cfg.Settings and cfg.FrameSize say. Its batches are FineTune's, for
// measuring or inspecting what training sees.
func TrainLoader(cfg Config, train *video.Manifest) (*video.Loader, error) {
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	if train == nil || len(train.Records) == 0 {
		return nil, fmt.Errorf("finetune: no training videos")
	}
	return trainLoader(cfg, train)
}

// trainLoader is TrainLoader without the checks.
func trainLoader(cfg Config, train *video.Manifest) (*video.Loader, error) {
	loader, err := video.NewLoader(video.LoaderConfig{
		Items:      train.Items(),
		Decode:     cfg.decode(),
		Preprocess: cfg.preprocess(),
		Sample:     video.TrainClipSampler(cfg.ClipLength, 1, true),
		BatchSize:  cfg.BatchSize,
		Shuffle:    true,
		Seed:       cfg.Seed,
		Workers:    cfg.Workers,
		CacheBytes: cfg.CacheBytes,
		Batch:      cfg.batchOptions(),
	})
	if err != nil {
		return nil, fmt.Errorf("finetune: training set: %w", err)
	}
	return loader, nil
}

func (r *runner) close() {
	r.train.close()
	r.val.close()
}

func (r *runner) params() []*nn.Param { return r.all }

func (r *runner) start(lr float64) error {
	r.opt.Reset()
	// The CPU's training programs keep r.opt, so its rate changes in place.
	switch o := r.opt.(type) {
	case *nn.Adam:
		o.LR = lr
	case *nn.SGD:
		o.LR = lr
	default:
		return fmt.Errorf("optimiser %T: want an *nn.Adam or *nn.SGD", r.opt)
	}
	r.pcg.Seed(r.cfg.Seed, dropoutStream)
	r.train.reset()
	return nil
}

func (r *runner) trainEpoch(ctx context.Context, epoch int, report func(step, steps int, loss float64)) (_ float64, _ int, err error) {
	defer func() {
		if err != nil {
			// The model holds the weights of the step reached, as on the CPU.
			if serr := r.train.sync(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	var sum float64
	var videos, steps int
	for step, err := range r.loader.Batches(ctx, epoch) {
		if err != nil {
			if ctx.Err() != nil {
				return 0, steps, fmt.Errorf("step %d of %d: %w", steps+1, r.steps, ctx.Err())
			}
			return 0, steps, fmt.Errorf("step %d of %d: %w", steps+1, r.steps, err)
		}
		b := step.Views[0]
		s := b.Shape
		shape := [4]int{s[1], s[2], s[3], s[4]}
		if r.shape == ([4]int{}) {
			if err := checkModelShape(r.cfg, r.model, s); err != nil {
				return 0, steps, fmt.Errorf("step %d of %d: %w", steps+1, r.steps, err)
			}
			r.shape = shape
		}
		if shape != r.shape {
			return 0, steps, fmt.Errorf("step %d of %d (%s): clips of %v, earlier ones %v: make every video the same size (Config.FrameSize)", steps+1, r.steps, b.IDs[0], shape, r.shape)
		}
		r.labels = r.labels[:0]
		for _, l := range b.Labels {
			r.labels = append(r.labels, float32(l))
		}
		loss, err := r.train.step(ctx, s[0], b.Data, r.labels)
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return 0, steps, fmt.Errorf("step %d of %d: %w", steps+1, r.steps, ctx.Err())
			}
			return 0, steps, fmt.Errorf("step %d of %d: %w", steps+1, r.steps, err)
		}
		if !finite(float64(loss)) {
			return 0, steps, fmt.Errorf("step %d of %d: loss is %v", steps+1, r.steps, loss)
		}
		steps++
		sum += float64(loss) * float64(s[0])
		videos += s[0]
		report(steps, r.steps, float64(loss))
	}
	if steps != r.steps {
		return 0, steps, fmt.Errorf("%d steps, want %d", steps, r.steps)
	}
	// Validation and the kept weights read the model.
	if err := r.train.sync(); err != nil {
		return 0, steps, err
	}
	return sum / float64(videos), steps, nil
}

func (r *runner) validate(ctx context.Context) (float64, error) {
	if p := r.train.lent(); p != nil {
		r.val.pred = p // the weights being trained
	}
	clips, err := r.val.run(ctx)
	if err != nil {
		return 0, err
	}
	return meanBCE(clips, r.posWeight)
}
