package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"github.com/schollz/progressbar/v3"

	"github.com/vidssl/vidssl/finetune"
	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/metrics"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/pretrain"
	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video"
	"github.com/vidssl/vidssl/video/echosynth"
)

// Initialisation names, in the paper's order.
const (
	initRandom   = "Random"
	initKinetics = "Kinetics-400"
)

// sslInitName names the initialisation from a pretraining method.
var sslInitName = map[pretrain.Method]string{
	pretrain.SimCLR:     "SimCLR",
	pretrain.MISimCLR:   "MI-SimCLR",
	pretrain.MISimCLRFO: "MI-SimCLR+FO",
}

// initSpec is one initialisation of the fine-tuned encoder.
type initSpec struct {
	Name     string
	Weights  string // "" for Random
	Kinetics bool
}

// unitResult is one fine-tuning run and its test evaluation.
type unitResult struct {
	Init string
	// Eval is evalFineTune or evalLinear (empty in results written before
	// linear probes: fine-tuning).
	Eval      string
	Fraction  float64
	Studies   int // training studies used
	LR        float64
	PosWeight float32
	BestEpoch int
	Video     finetune.Metrics
	Study     finetune.Metrics
	// Predictions are the test predictions (not in metrics.json; in
	// predictions.csv).
	Predictions finetune.Predictions `json:"-"`
	Dir         string               `json:"-"`
	Seconds     float64
}

// pipeline holds one run's settings and state.
type pipeline struct {
	o       options
	p       preset
	log     *slog.Logger
	data    *video.Manifest
	inits   []initSpec
	results []*unitResult
	// probes are the linear probes' results, in results' order.
	probes  []*unitResult
	ssl     map[string][]pretrain.EpochStats
	started time.Time
	// engine, when not nil, is the GPU that fine-tuning trains on.
	engine *gpu.Engine
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	if err := o.validate(); err != nil {
		return err
	}
	p, err := presetByName(o.Preset)
	if err != nil {
		return err
	}
	// The synthetic data set is drawn anew for every seed (seed 0 keeps
	// echosynth's default data set).
	p.Data.Seed += o.Seed
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	pl := &pipeline{o: o, p: p, log: log, ssl: map[string][]pretrain.EpochStats{}, started: time.Now()}
	if pl.engine, err = openDevice(o.Device, log); err != nil {
		return err
	}
	device := "cpu"
	if pl.engine != nil {
		defer pl.engine.Close()
		device = pl.engine.Name()
	}
	log.Info("vidssl aortic stenosis pipeline", "preset", p.Name, "out", o.Out, "blas", nn.BLAS(), "device", device, "workers", o.Workers, "seed", o.Seed)
	if err := pl.loadData(ctx); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if o.stage("data") || o.stage("pretrain") || o.stage("probe") || o.stage("finetune") {
		if err := pl.checkFiles(ctx); err != nil {
			return fmt.Errorf("data: %w", err)
		}
	}
	if o.needs("pretrain") {
		if err := pl.pretrain(ctx); err != nil {
			return fmt.Errorf("pretrain: %w", err)
		}
	}
	// The linear probes need only the initialisations: they run before
	// fine-tuning, whose results take far longer.
	if o.needs("probe") {
		if err := pl.linearProbes(ctx); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
	}
	if o.needs("finetune") {
		if err := pl.finetune(ctx); err != nil {
			return fmt.Errorf("finetune: %w", err)
		}
	}
	if o.stage("gradcam") {
		if err := pl.gradcam(ctx); err != nil {
			return fmt.Errorf("gradcam: %w", err)
		}
	}
	if o.stage("report") {
		if err := pl.report(); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	log.Info("done", "out", o.Out, "elapsed", time.Since(pl.started).Round(time.Second))
	return nil
}

// openDevice opens the GPU that -device asks for: none for cpu, CUDA's
// first device for cuda (an error when it cannot be used), and for auto
// CUDA's when it can be used, else none.
func openDevice(device string, log *slog.Logger) (*gpu.Engine, error) {
	if device == "cpu" {
		return nil, nil
	}
	if err := gpu.CUDAAvailable(); err != nil {
		if device == "auto" {
			log.Info("no usable GPU; training on the CPU", "why", err)
			return nil, nil
		}
		return nil, fmt.Errorf("-device cuda: %w", err)
	}
	e, err := gpu.OpenCUDA(gpu.CUDAOptions{AllowTF32: true})
	if err != nil {
		if device == "auto" {
			log.Warn("the GPU did not open; training on the CPU", "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("-device cuda: %w", err)
	}
	log.Info("pretraining, fine-tuning and evaluation run on the GPU; Grad-CAM on the CPU", "gpu", e.Name())
	return e, nil
}

// bar returns a progress bar with an ETA on stderr, or a silent one.
func (pl *pipeline) bar(total int, desc string) *progressbar.ProgressBar {
	if pl.o.Quiet {
		return progressbar.DefaultSilent(int64(total), desc)
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
	)
}

// preprocess is the paper's preprocessing: mask outside the ultrasound
// sector, resize to FrameSize x FrameSize.
func (pl *pipeline) preprocess() func(*video.Video) (*video.Video, error) {
	return video.MaskAndResize(pl.p.FrameSize, pl.p.FrameSize)
}

func (pl *pipeline) loadData(ctx context.Context) error {
	if pl.o.Data != "" {
		m, err := readDataDir(pl.o.Data)
		if err != nil {
			return err
		}
		pl.data = m
	} else {
		dir := filepath.Join(pl.o.Out, "data")
		var manifest string
		if pl.o.stage("data") {
			bar := pl.bar(1, "synthetic echoes")
			var err error
			manifest, err = echosynth.WriteDataset(ctx, dir, pl.p.Data, func(done, total int) {
				bar.ChangeMax(total)
				bar.Set(done)
			})
			bar.Finish()
			if err != nil {
				return err
			}
		} else {
			manifest = filepath.Join(dir, echosynth.ManifestName)
		}
		m, err := video.ReadManifest(manifest, dataColumns(video.OurColumns))
		if err != nil {
			return fmt.Errorf("read %s (run the data stage first): %w", manifest, err)
		}
		pl.data = m
	}
	for _, w := range pl.data.Warnings {
		pl.log.Warn("data", "warning", w.String())
	}
	for _, split := range []string{"train", "val", "test"} {
		s := pl.data.Subset(split)
		labels, err := finetune.StudyLabels(s)
		if err != nil {
			return fmt.Errorf("%s split: %w", split, err)
		}
		pos := 0
		for _, l := range labels {
			pos += l
		}
		pl.log.Info("data", "split", split, "videos", len(s.Records), "studies", len(labels), "severe studies", pos)
		switch {
		case len(labels) == 0:
			return fmt.Errorf("the %s split has no studies", split)
		case pos == 0:
			return fmt.Errorf("the %s split has no positive (severe AS) study among its %d studies", split, len(labels))
		case pos == len(labels):
			return fmt.Errorf("the %s split has no negative study among its %d studies", split, len(labels))
		}
	}
	return nil
}

// dataColumns adds the checks across rows that the pipeline needs to
// cols: a study in two splits is always an error, and every split the
// pipeline uses must have records.
func dataColumns(cols video.Columns) video.Columns {
	cols.Check.RequireSplits = []string{video.SplitTrain, video.SplitVal, video.SplitTest}
	return cols
}

// checkFiles checks every video's header (every frame with -check-decode)
// before anything trains, and lists every unreadable file at once; with
// -unreadable skip the run goes on without them.
func (pl *pipeline) checkFiles(ctx context.Context) error {
	opt := video.FileCheckOptions{
		Decode:         pl.o.CheckDecode,
		SkipUnreadable: pl.o.Unreadable == "skip",
		Workers:        pl.o.Workers,
	}
	ok, rep, err := video.CheckFiles(ctx, pl.data, opt)
	if err != nil {
		return fmt.Errorf("%w\n(-unreadable skip leaves these files out)", err)
	}
	for _, u := range rep.Unreadable {
		pl.log.Warn("skipped an unreadable video", "file", u.Record.File, "row", u.Record.Row, "err", u.Err)
	}
	if len(rep.Unreadable) > 0 {
		pl.log.Warn("unreadable videos skipped", "skipped", len(rep.Unreadable), "checked", rep.Checked)
	}
	pl.data = ok
	return nil
}

// readDataDir reads a real data set: manifest.csv in our columns, or the
// paper's train.csv / val.csv / test.csv. A manifest.csv without splits is
// split by study, and checked again.
func readDataDir(dir string) (*video.Manifest, error) {
	ours := filepath.Join(dir, "manifest.csv")
	if _, err := os.Stat(ours); err == nil {
		cols := video.OurColumns
		m, err := video.ReadManifest(ours, cols)
		if err != nil {
			return nil, err
		}
		if len(m.Subset("train").Records) == 0 {
			if err := m.SplitByStudy(0, video.PaperSplit); err != nil {
				return nil, err
			}
		}
		if m.Warnings, err = m.Check(dataColumns(cols).Check); err != nil {
			return nil, err
		}
		return m, nil
	}
	return video.ReadSplitDir(dir, dataColumns(video.PaperColumns))
}

func (pl *pipeline) pretrain(ctx context.Context) error {
	pl.inits = []initSpec{{Name: initRandom}}
	if pl.o.Kinetics != "" {
		if pl.p.Finetune.Model.Width != 64 || pl.p.Finetune.Model.Blocks != [4]int{2, 2, 2, 2} {
			pl.log.Warn("Kinetics-400 row skipped: its weights are torchvision's R3D-18, which only the paper preset uses", "preset", pl.p.Name)
		} else {
			pl.inits = append(pl.inits, initSpec{Name: initKinetics, Weights: pl.o.Kinetics, Kinetics: true})
		}
	} else {
		pl.log.Info("Kinetics-400 row skipped: pass -kinetics r3d_18.pth, made with torchvision as " +
			`torch.save(torchvision.models.video.r3d_18(weights="KINETICS400_V1").state_dict(), "r3d_18.pth")`)
	}
	train := pl.data.Subset("train")
	// Pretraining on every record keeps its checkpoints apart, so that
	// switching -pretrain-on never meets a checkpoint of the other choice.
	root := filepath.Join(pl.o.Out, "pretrain")
	var splits []string // the training split
	if pl.o.PretrainOn == "all" {
		root = filepath.Join(pl.o.Out, "pretrain-all")
		splits = pretrain.AllSplits()
		if pl.o.stage("pretrain") {
			pl.log.Warn("pretraining on every record: the encoders see the val and test videos (not their labels) that evaluate them")
		}
	}
	for _, m := range sslMethods {
		cfg := pl.p.Pretrain(m)
		cfg.Splits = splits
		cfg.Seed = pl.o.Seed
		cfg.Workers = pl.o.Workers
		cfg.Preprocess = pl.preprocess()
		cfg.Engine = pl.engine
		if every := pl.p.Probe.MonitorEvery; every > 0 {
			cfg.Monitor = &pretrain.Monitor{Every: every, Train: train, Test: pl.data.Subset("val"), Clips: pl.p.Probe.Clips}
		}
		dir := filepath.Join(root, m.String())
		if !pl.o.stage("pretrain") {
			ck, _, err := pretrain.LatestCheckpoint(dir)
			if err != nil {
				return fmt.Errorf("%s: no checkpoint (run the pretrain stage first): %w", m, err)
			}
			pl.inits = append(pl.inits, initSpec{Name: sslInitName[m], Weights: ck})
			continue
		}
		plan, err := pretrain.PlanRun(cfg, pl.data)
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		pl.log.Info("pretraining", "method", sslInitName[m], "splits", strings.Join(plan.Splits, ","), "records", plan.Records, "studies", plan.Studies,
			"pairs", plan.Pairs, "batch", cfg.BatchPairs, "steps per epoch", plan.StepsPerEpoch, "pairs dropped per epoch", plan.Dropped, "epochs", cfg.Epochs)
		bar := pl.bar(cfg.Epochs, "pretrain "+sslInitName[m])
		probed := ""
		cfg.Progress = func(p pretrain.Progress) {
			if d := p.Done; d != nil && d.Probed {
				probed = fmt.Sprintf(" probe@%d linear %.3f k-NN %.3f", d.Epoch, d.LinearAUROC, d.KNNAUROC)
				pl.log.Info("monitor", "method", sslInitName[m], "epoch", d.Epoch, "ntxent", d.NTXent, "order accuracy", d.OrderAccuracy,
					"val order accuracy", d.HeldOutOrderAccuracy, "val linear probe AUROC", d.LinearAUROC, "val k-NN AUROC", d.KNNAUROC)
			}
			bar.ChangeMax(p.Epochs * max(p.Steps, 1))
			bar.Set((p.Epoch-1)*p.Steps + p.Step)
			bar.Describe(fmt.Sprintf("pretrain %-12s epoch %d/%d loss %.3f%s", sslInitName[m], p.Epoch, p.Epochs, p.Loss, probed))
		}
		res, err := pretrain.Run(ctx, cfg, pl.data, dir)
		bar.Finish()
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		if n := len(res.History); n > 0 {
			last := res.History[n-1]
			pl.log.Info("pretrained", "method", sslInitName[m], "epochs", n, "loss", last.Loss, "ntxent", last.NTXent, "order", last.Order, "order accuracy", last.OrderAccuracy)
		}
		pl.ssl[sslInitName[m]] = res.History
		pl.inits = append(pl.inits, initSpec{Name: sslInitName[m], Weights: res.Checkpoint})
	}
	return nil
}

func pctName(f float64) string { return fmt.Sprintf("%g%%", f*100) }

func (pl *pipeline) finetune(ctx context.Context) error {
	train, val, test := pl.data.Subset("train"), pl.data.Subset("val"), pl.data.Subset("test")
	labels, err := finetune.StudyLabels(train)
	if err != nil {
		return err
	}
	subsets, err := finetune.SubsetsBothClasses(train.Studies(), labels, pl.p.Fractions, pl.o.Seed)
	if err != nil {
		return err
	}
	bar := pl.bar(len(pl.inits)*len(pl.p.Fractions), "fine-tune")
	defer bar.Finish()
	for _, in := range pl.inits {
		for _, f := range pl.p.Fractions {
			studies := subsets[f]
			dir := filepath.Join(pl.o.Out, "finetune", in.Name, pctName(f))
			r, err := pl.finetuneUnit(ctx, in, f, studies, train, val, test, dir, bar)
			if err != nil {
				return fmt.Errorf("%s at %s of labels: %w", in.Name, pctName(f), err)
			}
			pl.results = append(pl.results, r)
			bar.Add(1)
		}
	}
	return nil
}

// fingerprint is a short hash of the JSON of v: the settings a stage's
// results depend on.
func fingerprint(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8]), nil
}

// weightsID identifies a weights file by path, size and modification time.
func weightsID(path string) string {
	if path == "" {
		return ""
	}
	st, err := os.Stat(path)
	if err != nil {
		return path
	}
	return fmt.Sprintf("%s:%d:%d", path, st.Size(), st.ModTime().UnixNano())
}

func (pl *pipeline) finetuneConfig(in initSpec) finetune.Config {
	cfg := pl.p.Finetune
	cfg.Seed = pl.o.Seed
	cfg.Workers = pl.o.Workers
	cfg.Kinetics = in.Kinetics
	cfg.Preprocess = pl.preprocess()
	cfg.Engine = pl.engine
	return cfg
}

func (pl *pipeline) finetuneUnit(ctx context.Context, in initSpec, f float64, studies []string, train, val, test *video.Manifest, dir string, bar *progressbar.ProgressBar) (*unitResult, error) {
	cfg := pl.finetuneConfig(in)
	settings := struct {
		Config   finetune.Config
		Init     string
		Weights  string
		Fraction float64
		Studies  []string
		Frame    int
		Boot     int
	}{cfg, in.Name, weightsID(in.Weights), f, studies, pl.p.FrameSize, pl.p.Resamples}
	fp, err := fingerprint(settings)
	if err != nil {
		return nil, err
	}
	metricsPath := filepath.Join(dir, "metrics.json")
	if r, err := loadUnit(dir, fp); err == nil {
		pl.log.Debug("fine-tune results exist; skipped", "init", in.Name, "fraction", pctName(f))
		return r, nil
	} else if !pl.o.stage("finetune") {
		return nil, fmt.Errorf("no results in %s (run the finetune stage first): %w", metricsPath, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	start := time.Now()
	cfg.HistoryPath = filepath.Join(dir, "history.csv")
	cfg.Progress = func(p finetune.Progress) {
		bar.Describe(fmt.Sprintf("fine-tune %-12s %4s lr %g (%d/%d) epoch %d/%d", in.Name, pctName(f), p.LR, p.Run, p.Runs, p.Epoch, p.MaxEpochs))
	}
	model, rep, err := finetune.NewModel(cfg, finetune.Init{Weights: in.Weights})
	if err != nil {
		return nil, err
	}
	if in.Weights != "" {
		pl.log.Debug("initialised", "init", in.Name, "report", rep.String())
	}
	sub, err := finetune.SelectStudies(train, studies)
	if err != nil {
		return nil, err
	}
	res, err := finetune.FineTune(ctx, cfg, model, sub, val, f)
	if err != nil {
		return nil, err
	}
	ev, err := finetune.Evaluate(ctx, cfg, res.Model, test, metrics.BootstrapOptions{Resamples: pl.p.Resamples, Seed: pl.o.Seed})
	if err != nil {
		return nil, err
	}
	r := &unitResult{
		Init: in.Name, Eval: evalFineTune, Fraction: f, Studies: len(studies), LR: res.LR, PosWeight: res.PosWeight,
		BestEpoch: res.Runs[res.Chosen].BestEpoch, Video: ev.Video, Study: ev.Study,
		Predictions: ev.Predictions, Dir: dir, Seconds: time.Since(start).Seconds(),
	}
	if err := model.SaveWeights(filepath.Join(dir, "model.safetensors"), map[string]string{"init": in.Name, "fraction": fmt.Sprint(f)}); err != nil {
		return nil, err
	}
	if err := writePredictions(filepath.Join(dir, "predictions.csv"), ev.Predictions); err != nil {
		return nil, err
	}
	if err := writeJSON(metricsPath, struct {
		Fingerprint string
		*unitResult
	}{fp, r}); err != nil {
		return nil, err
	}
	pl.log.Info("fine-tuned", "init", in.Name, "fraction", pctName(f), "studies", len(studies), "lr", res.LR,
		"test study AUROC", ev.Study.AUROC.String(), "seconds", int(r.Seconds))
	return r, nil
}

// loadUnit reads a finished unit's results when its fingerprint matches.
func loadUnit(dir, fp string) (*unitResult, error) {
	b, err := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if err != nil {
		return nil, err
	}
	var saved struct {
		Fingerprint string
		unitResult
	}
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, err
	}
	if saved.Fingerprint != fp {
		return nil, errors.New("settings changed")
	}
	preds, err := readPredictions(filepath.Join(dir, "predictions.csv"))
	if err != nil {
		return nil, err
	}
	r := saved.unitResult
	r.Predictions, r.Dir = preds, dir
	return &r, nil
}

// loadModel rebuilds a fine-tuned model from its unit directory.
func (pl *pipeline) loadModel(r *unitResult) (*resnet3d.Model, error) {
	m, err := resnet3d.New(pl.p.Finetune.Model, rand.New(rand.NewPCG(pl.o.Seed, 1)))
	if err != nil {
		return nil, err
	}
	if _, err := m.LoadWeights(filepath.Join(r.Dir, "model.safetensors"), resnet3d.LoadOptions{Strict: true}); err != nil {
		return nil, err
	}
	return m, nil
}

// result returns the fine-tuning unit of an initialisation and fraction,
// or nil.
func (pl *pipeline) result(init string, f float64) *unitResult {
	return find(pl.results, init, f)
}

// find returns the unit of an initialisation and fraction in set, or nil.
func find(set []*unitResult, init string, f float64) *unitResult {
	for _, r := range set {
		if r.Init == init && r.Fraction == f {
			return r
		}
	}
	return nil
}

// initNames returns the initialisations that have results, in order.
func (pl *pipeline) initNames() []string {
	var names []string
	for _, in := range pl.inits {
		names = append(names, in.Name)
	}
	return names
}

// sortedFractions returns the preset's fractions in increasing order.
func (pl *pipeline) sortedFractions() []float64 {
	fs := append([]float64(nil), pl.p.Fractions...)
	sort.Float64s(fs)
	return fs
}

func writeJSON(path string, v any) error {
	return writeFileAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

// writeFileAtomic writes a file through a temporary file in the same
// directory, synced and renamed over path, so that no reader ever sees a
// half-written file (github.com/google/renameio; the library's own writer
// also syncs the directory).
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := renameio.NewPendingFile(path, renameio.WithPermissions(0o644))
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if err := write(f); err != nil {
		return err
	}
	return f.CloseAtomicallyReplace()
}
