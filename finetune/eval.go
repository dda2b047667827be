package finetune

import (
	"context"
	"fmt"
	"math"
	"reflect"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/metrics"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/video"
)

// Threshold is the probability at or above which a prediction counts as
// severe AS for the threshold metrics.
const Threshold = 0.5

// Prediction is the predicted probability of severe AS for one video or one
// study.
type Prediction struct {
	// ID is the video's path, or the study id.
	ID string
	// Study is the video's study (the ID itself for a study).
	Study string
	// Label is 1 (severe AS), 0, or -1 when the manifest has no labels.
	Label int
	// Prob is the mean of the sigmoid probabilities of the video's
	// video.EvalClips clips, or the mean of the study's video probabilities.
	Prob float64
	// Count is the number of clips (videos) or videos (studies) averaged.
	Count int
}

// Predictions are a model's predictions for a manifest, sorted by ID.
type Predictions struct {
	// Videos has one prediction per video, Studies one per study.
	Videos, Studies []Prediction
}

// Metrics are the paper's classification metrics at one level (videos or
// studies). The threshold metrics are those of the rule "Prob >= Threshold
// (0.5) is severe AS".
type Metrics struct {
	// N is the number of units (videos or studies) and Positives how many
	// are severe AS.
	N, Positives int
	// AUROC is the area under the ROC curve with its percentile bootstrap
	// confidence interval over resampled units (Level 0.95 and 10,000
	// resamples unless the options say otherwise).
	AUROC metrics.Interval
	// AUPRC is the trapezoidal area under the precision-recall curve, and
	// AveragePrecision its step-wise form (scikit-learn's
	// average_precision_score).
	AUPRC, AveragePrecision float64
	// Confusion counts the units at Threshold; the ratios below derive from
	// it (0 where undefined, as scikit-learn's zero_division=0).
	Confusion                          metrics.Confusion
	Accuracy, BalancedAccuracy, MCC    float64
	Precision, Recall, Specificity, F1 float64
	// BestF1 and BestF2 are the thresholds that maximise F1 and F2.
	BestF1, BestF2 metrics.BestThreshold
}

// Evaluation is a model's predictions on a manifest and their metrics at
// both levels.
type Evaluation struct {
	Predictions
	// Video and Study are the metrics of Videos and of Studies.
	Video, Study Metrics
}

// Score computes Metrics of predictions (videos or studies), which must be
// labelled and hold both classes. boot configures the AUROC's bootstrap; its
// zero value gives a 95% interval from 10,000 resamples, seed 0.
func Score(preds []Prediction, boot metrics.BootstrapOptions) (Metrics, error) {
	m, err := score(preds, boot)
	if err != nil {
		return Metrics{}, fmt.Errorf("finetune: score: %w", err)
	}
	return m, nil
}

func score(preds []Prediction, boot metrics.BootstrapOptions) (Metrics, error) {
	labels := make([]bool, len(preds))
	probs := make([]float64, len(preds))
	var out Metrics
	for i, p := range preds {
		if p.Label != 0 && p.Label != 1 {
			return Metrics{}, fmt.Errorf("%s has label %d, want 0 or 1", p.ID, p.Label)
		}
		labels[i], probs[i] = p.Label == 1, p.Prob
		out.Positives += p.Label
	}
	out.N = len(preds)
	var err error
	if out.AUROC, err = metrics.BootstrapAUROC(labels, probs, boot); err != nil {
		return Metrics{}, err
	}
	if out.AUPRC, err = metrics.AUPRC(labels, probs); err != nil {
		return Metrics{}, err
	}
	if out.AveragePrecision, err = metrics.AveragePrecision(labels, probs); err != nil {
		return Metrics{}, err
	}
	if out.Confusion, err = metrics.ConfusionAt(labels, probs, Threshold); err != nil {
		return Metrics{}, err
	}
	c := out.Confusion
	out.Accuracy, out.BalancedAccuracy, out.MCC = c.Accuracy(), c.BalancedAccuracy(), c.MCC()
	out.Precision, out.Recall, out.Specificity, out.F1 = c.Precision(), c.Recall(), c.Specificity(), c.F1()
	if out.BestF1, err = metrics.BestF1(labels, probs); err != nil {
		return Metrics{}, err
	}
	if out.BestF2, err = metrics.BestF2(labels, probs); err != nil {
		return Metrics{}, err
	}
	return out, nil
}

// Predict runs model in evaluation mode on every video of m: the
// video.EvalClips (4) evenly spaced clips of cfg.ClipLength frames
// (video.EvalClipStarts), no augmentation; a video's probability is the mean
// of its clips' sigmoid probabilities and a study's the mean of its videos'
// (metrics.Aggregate). Clips go through the network cfg.EvalBatchSize at a
// time; the last batch is padded with zero clips, whose outputs are dropped
// (batch norm in evaluation mode treats every clip on its own, so padding
// changes nothing). Records must all be labelled or all unlabelled (-1).
// model may be any nn.Module that FineTune takes.
func Predict(ctx context.Context, cfg Config, model nn.Module, m *video.Manifest) (*Predictions, error) {
	if err := checkModel(cfg, model); err != nil {
		return nil, err
	}
	ev, err := newEvaluator(cfg, model, m)
	if err != nil {
		return nil, fmt.Errorf("finetune: predict: %w", err)
	}
	defer ev.close()
	clips, err := ev.run(ctx)
	if err != nil {
		return nil, fmt.Errorf("finetune: predict: %w", err)
	}
	return aggregate(clips)
}

// Evaluate is Predict followed by Score at the video and the study level.
// boot configures the AUROC intervals (zero value: 95%, 10,000 resamples).
func Evaluate(ctx context.Context, cfg Config, model nn.Module, m *video.Manifest, boot metrics.BootstrapOptions) (*Evaluation, error) {
	p, err := Predict(ctx, cfg, model, m)
	if err != nil {
		return nil, err
	}
	ev := &Evaluation{Predictions: *p}
	if ev.Video, err = score(p.Videos, boot); err != nil {
		return nil, fmt.Errorf("finetune: evaluate videos: %w", err)
	}
	if ev.Study, err = score(p.Studies, boot); err != nil {
		return nil, fmt.Errorf("finetune: evaluate studies: %w", err)
	}
	return ev, nil
}

// checkModel reports an error unless cfg holds what running the caller's
// model needs (of cfg.Model, InChannels only) and model is not nil.
func checkModel(cfg Config, model nn.Module) error {
	if err := cfg.validate(false); err != nil {
		return err
	}
	if v := reflect.ValueOf(model); model == nil || v.Kind() == reflect.Pointer && v.IsNil() {
		return fmt.Errorf("finetune: nil model")
	}
	return nil
}

// checkModelShape reports an error unless model takes clips of shape (N,
// C, T, H, W) and outputs one logit per clip, (N, 1), from its graph built
// but not run (nn.OutputShape): the check a model not from NewModel needs
// before a graph of it runs or goes to an Engine.
func checkModelShape(cfg Config, model nn.Module, shape [5]int) error {
	out, err := nn.OutputShape(model, shape[:]...)
	if err != nil {
		return fmt.Errorf("the model does not take clips of shape %v (Config.Model.InChannels = %d): %w", shape, cfg.Model.InChannels, err)
	}
	if len(out) != 2 || out[0] != shape[0] || out[1] != 1 {
		return fmt.Errorf("the model outputs %v for clips of shape %v, want (%d, 1): one logit per clip", out, shape, shape[0])
	}
	return nil
}

// clipLogit is the output of one evaluation clip.
type clipLogit struct {
	video, study string
	label        int
	logit        float32
}

// sigmoid returns 1/(1+exp(-x)) without overflow.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// aggregate turns clip logits into video and study predictions with
// metrics.Aggregate: the mean of the clips' sigmoids per video, the mean of
// the videos' per study.
func aggregate(clips []clipLogit) (*Predictions, error) {
	if len(clips) == 0 {
		return nil, fmt.Errorf("finetune: aggregate: no clips")
	}
	labelled := clips[0].label >= 0
	scores := make([]metrics.ClipScore, len(clips))
	studyOf := map[string]string{}
	for i, c := range clips {
		if (c.label >= 0) != labelled || c.label > 1 {
			return nil, fmt.Errorf("finetune: aggregate: video %s has label %d, video %s %d: want all 0/1 or all unlabelled (-1)", c.video, c.label, clips[0].video, clips[0].label)
		}
		if f := float64(c.logit); !finite(f) {
			return nil, fmt.Errorf("finetune: aggregate: a clip of video %s has logit %v", c.video, c.logit)
		}
		scores[i] = metrics.ClipScore{Study: c.study, Video: c.video, Label: c.label == 1, Score: sigmoid(float64(c.logit))}
		studyOf[c.video] = c.study
	}
	videos, studies, err := metrics.Aggregate(scores)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	conv := func(g metrics.Grouped, study func(id string) string) []Prediction {
		out := make([]Prediction, g.Len())
		for i, id := range g.IDs {
			l := -1
			if labelled {
				l = 0
				if g.Labels[i] {
					l = 1
				}
			}
			out[i] = Prediction{ID: id, Study: study(id), Label: l, Prob: g.Scores[i], Count: g.Counts[i]}
		}
		return out
	}
	return &Predictions{
		Videos:  conv(videos, func(id string) string { return studyOf[id] }),
		Studies: conv(studies, func(id string) string { return id }),
	}, nil
}

// meanBCE returns the mean over clips of BCEWithLogits with posWeight, in
// float64: the validation loss.
func meanBCE(clips []clipLogit, posWeight float32) (float64, error) {
	if len(clips) == 0 {
		return 0, fmt.Errorf("no clips")
	}
	pw := float64(posWeight)
	var sum float64
	for _, c := range clips {
		if c.label != 0 && c.label != 1 {
			return 0, fmt.Errorf("video %s has label %d, want 0 or 1", c.video, c.label)
		}
		x, t := float64(c.logit), float64(c.label)
		sum += (1-t)*x + (1+(pw-1)*t)*(math.Log1p(math.Exp(-math.Abs(x)))+math.Max(-x, 0))
	}
	loss := sum / float64(len(clips))
	if !finite(loss) {
		return 0, fmt.Errorf("loss is %v", loss)
	}
	return loss, nil
}

// evaluator runs a model over a manifest's evaluation clips, with one graph
// of a fixed number of clips built at the first batch.
type evaluator struct {
	cfg    Config
	model  nn.Module
	loader *video.Loader
	clips  int    // per forward pass
	shape  [4]int // C, T, H, W
	buf    []float32
	logits []float32
	// pred runs the clips: an nn evaluation graph on the CPU (cpuPredictor)
	// or, with cfg.Engine, the trainer whose weights are being trained
	// (FineTune's, lent before each validation) or a gpu.Predictor, made
	// at the first batch from the model. close closes pred when ownPred.
	pred    predictor
	ownPred bool
}

// predictor runs a model in evaluation mode: gpu.Trainer, gpu.Predictor
// or cpuPredictor.
type predictor interface {
	Predict(ctx context.Context, x, logits []float32) error
	Close() error
}

// cpuPredictor is an nn evaluation graph of a fixed number of clips.
type cpuPredictor struct {
	prog      *nn.Program
	x, logits *G.Node
}

func (c *cpuPredictor) Predict(ctx context.Context, x, logits []float32) error {
	if _, err := c.prog.Run(ctx, nn.Feed{Node: c.x, Data: x}); err != nil {
		return err
	}
	got, ok := c.logits.Value().Data().([]float32)
	if !ok || len(got) != len(logits) {
		return fmt.Errorf("%d logits, want %d", len(got), len(logits))
	}
	copy(logits, got)
	return nil
}

func (c *cpuPredictor) Close() error {
	c.prog.Close()
	return nil
}

func newEvaluator(cfg Config, model nn.Module, m *video.Manifest) (*evaluator, error) {
	if m == nil || len(m.Records) == 0 {
		return nil, fmt.Errorf("no videos")
	}
	n := cfg.evalClips()
	loader, err := video.NewLoader(video.LoaderConfig{
		Items:      m.Items(),
		Decode:     cfg.decode(),
		Preprocess: cfg.preprocess(),
		Sample:     video.EvalClipSampler(cfg.ClipLength),
		BatchSize:  n / video.EvalClips,
		Seed:       cfg.Seed,
		Workers:    cfg.Workers,
		CacheBytes: cfg.CacheBytes,
		Batch:      cfg.batchOptions(),
	})
	if err != nil {
		return nil, err
	}
	return &evaluator{cfg: cfg, model: model, loader: loader, clips: n}, nil
}

func (e *evaluator) close() {
	if e.ownPred && e.pred != nil {
		e.pred.Close()
	}
	e.pred, e.ownPred = nil, false
}

// build sizes the evaluator for clips of shape C, T, H, W and makes its
// predictor when none was lent: the evaluation graph on the CPU, or a
// gpu.Predictor on cfg.Engine.
func (e *evaluator) build(shape [4]int) error {
	batch := [5]int{e.clips, shape[0], shape[1], shape[2], shape[3]}
	if err := checkModelShape(e.cfg, e.model, batch); err != nil {
		return err
	}
	e.shape = shape
	e.buf = make([]float32, e.clips*shape[0]*shape[1]*shape[2]*shape[3])
	e.logits = make([]float32, e.clips)
	if e.pred != nil {
		return nil
	}
	if eng := e.cfg.Engine; eng != nil {
		p, err := gpu.NewPredictor(eng, e.model, batch)
		if err != nil {
			return fmt.Errorf("%s: %w", eng.Name(), err)
		}
		e.pred, e.ownPred = p, true
		return nil
	}
	g := nn.NewGraph(false, nil)
	x := g.Input("x", batch[:]...)
	logits, err := e.model.Forward(g, x)
	if err != nil {
		return err
	}
	e.pred, e.ownPred = &cpuPredictor{prog: nn.NewEvaluator(g), x: x, logits: logits}, true
	return nil
}

// forward returns the logits of the clips in e.buf.
func (e *evaluator) forward(ctx context.Context) ([]float32, error) {
	return e.logits, e.pred.Predict(ctx, e.buf, e.logits)
}

// run returns the logits of every clip of every video, in loader order
// (video by video, clip by clip).
func (e *evaluator) run(ctx context.Context) ([]clipLogit, error) {
	var out []clipLogit
	for step, err := range e.loader.Batches(ctx, 0) {
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		views := step.Views
		if len(views) != video.EvalClips {
			return nil, fmt.Errorf("batch %d: %d views, want %d", step.Index, len(views), video.EvalClips)
		}
		s := views[0].Shape
		shape := [4]int{s[1], s[2], s[3], s[4]}
		if e.buf == nil {
			if err := e.build(shape); err != nil {
				return nil, fmt.Errorf("build the graph for %d clips of %v: %w", e.clips, shape, err)
			}
		}
		if shape != e.shape {
			return nil, fmt.Errorf("batch %d (%s): clips of %v, earlier ones %v: make every video the same size (Config.FrameSize)", step.Index, views[0].IDs[0], shape, e.shape)
		}
		nv := s[0]
		size := shape[0] * shape[1] * shape[2] * shape[3]
		clear(e.buf[nv*video.EvalClips*size:]) // zero padding
		for i := 0; i < nv; i++ {
			for k, b := range views {
				copy(e.buf[(i*video.EvalClips+k)*size:], b.Item(i))
			}
		}
		logits, err := e.forward(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("batch %d: %w", step.Index, err)
		}
		b := views[0]
		for i := 0; i < nv; i++ {
			for k := 0; k < video.EvalClips; k++ {
				out = append(out, clipLogit{video: b.IDs[i], study: b.Groups[i], label: b.Labels[i], logit: logits[i*video.EvalClips+k]})
			}
		}
	}
	return out, nil
}

// Clips returns the video.EvalClips evaluation clips of v as a batch
// (EvalClips, Model.InChannels, ClipLength, H, W), made exactly as Predict
// and Evaluate make them: c's preprocessing (Preprocess, or the FrameSize
// resize), EvalClipStarts, the channel conversion and per-clip scaling, and
// the Kinetics-400 normalisation when c.Kinetics. Feed its Data to a model
// (or explain.ResNetCAM) to look at one video as the evaluation does.
func (c Config) Clips(v *video.Video) (*video.Batch, error) {
	if v == nil {
		return nil, fmt.Errorf("finetune: clips: nil video")
	}
	if err := v.Validate(); err != nil {
		return nil, fmt.Errorf("finetune: clips: %w", err)
	}
	if c.ClipLength < 1 {
		return nil, fmt.Errorf("finetune: clips: ClipLength = %d, want >= 1", c.ClipLength)
	}
	if pre := c.preprocess(); pre != nil {
		var err error
		if v, err = pre(v); err != nil {
			return nil, fmt.Errorf("finetune: clips: %w", err)
		}
	}
	views, err := video.EvalClipSampler(c.ClipLength)(nil, video.Item{ID: v.Source, Label: -1}, []*video.Video{v})
	if err != nil {
		return nil, fmt.Errorf("finetune: clips: %w", err)
	}
	clips := make([]*video.Video, len(views))
	info := make([]video.ItemInfo, len(views))
	for i, w := range views {
		clips[i] = w.Clip
		info[i] = video.ItemInfo{ID: v.Source, Label: -1, Group: v.Source}
	}
	b, err := video.NewBatch(clips, info, c.batchOptions())
	if err != nil {
		return nil, fmt.Errorf("finetune: clips: %w", err)
	}
	return b, nil
}

// ClipsFromFile decodes the video at path (with c.Decode, else
// video.ReadFile) and returns its evaluation clips; see Clips.
func (c Config) ClipsFromFile(path string) (*video.Batch, error) {
	v, err := c.decode()(path)
	if err != nil {
		return nil, fmt.Errorf("finetune: clips: %w", err)
	}
	return c.Clips(v)
}
