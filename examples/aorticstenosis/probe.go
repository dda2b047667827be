package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/vidssl/vidssl/finetune"
	"github.com/vidssl/vidssl/metrics"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/pretrain"
	"github.com/vidssl/vidssl/resnet3d"
	"github.com/vidssl/vidssl/video"
)

// Evaluation names: how an initialisation was turned into a classifier.
const (
	evalFineTune = "fine-tune"
	evalLinear   = "linear probe"
)

// linearProbes evaluates every initialisation's frozen encoder with a
// linear probe (pretrain.StudyProbes) fitted on the labelled training
// studies of each label fraction (the fine-tuning subsets) and scored on
// the test split at study level. Results already on disk for the same
// settings are loaded; without the probe stage, missing ones are skipped.
func (pl *pipeline) linearProbes(ctx context.Context) error {
	train, test := pl.data.Subset("train"), pl.data.Subset("test")
	labels, err := finetune.StudyLabels(train)
	if err != nil {
		return err
	}
	subsets, err := finetune.SubsetsBothClasses(train.Studies(), labels, pl.p.Fractions, pl.o.Seed)
	if err != nil {
		return err
	}
	for _, in := range pl.inits {
		if in.Kinetics {
			pl.log.Info("no linear probe of Kinetics-400: the probe does not normalise clips as those weights expect")
			continue
		}
		rs, err := pl.probeInit(ctx, in, subsets, train, test)
		if err != nil {
			return fmt.Errorf("%s: %w", in.Name, err)
		}
		pl.probes = append(pl.probes, rs...)
	}
	return nil
}

// probeInit runs (or loads) the linear probes of one initialisation at
// every fraction.
func (pl *pipeline) probeInit(ctx context.Context, in initSpec, subsets map[float64][]string, train, test *video.Manifest) ([]*unitResult, error) {
	var studies [][]string
	for _, f := range pl.p.Fractions {
		studies = append(studies, subsets[f])
	}
	settings := struct {
		Init, Weights string
		Probe         probeConfig
		Fractions     []float64
		Studies       [][]string
		Frame, Boot   int
		Seed          uint64
	}{in.Name, weightsID(in.Weights), pl.p.Probe, pl.p.Fractions, studies, pl.p.FrameSize, pl.p.Resamples, pl.o.Seed}
	fp, err := fingerprint(settings)
	if err != nil {
		return nil, err
	}
	var out []*unitResult
	missing := false
	for _, f := range pl.p.Fractions {
		r, err := loadUnit(pl.probeDir(in.Name, f), fp)
		if err != nil {
			missing = true
			break
		}
		r.Eval = evalLinear
		out = append(out, r)
	}
	if !missing {
		return out, nil
	}
	if !pl.o.stage("probe") {
		pl.log.Info("linear probe results missing; run the probe stage to add them to the report", "init", in.Name)
		return nil, nil
	}
	start := time.Now()
	model, err := pl.frozenModel(in)
	if err != nil {
		return nil, err
	}
	probe := pretrain.Probe{ClipLength: pl.p.Probe.ClipLength, Seed: pl.o.Seed, Workers: pl.o.Workers, Preprocess: pl.preprocess()}
	trainF, err := probe.VideoFeatures(ctx, model, train, pl.p.Probe.Clips)
	if err != nil {
		return nil, err
	}
	testF, err := probe.VideoFeatures(ctx, model, test, pl.p.Probe.Clips)
	if err != nil {
		return nil, err
	}
	d := model.Encoder.FeatureDim()
	out = out[:0]
	for _, f := range pl.p.Fractions {
		sub, err := finetune.SelectStudies(train, subsets[f])
		if err != nil {
			return nil, err
		}
		rows := rowsOf(train, sub)
		subF := make([]float32, 0, len(rows)*d)
		for _, i := range rows {
			subF = append(subF, trainF[i*d:(i+1)*d]...)
		}
		res, err := pretrain.StudyProbes(subF, sub, testF, test, d, pretrain.ProbeOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s of labels: %w", pctName(f), err)
		}
		preds := studyPredictions(res.Linear)
		m, err := finetune.Score(preds.Studies, metrics.BootstrapOptions{Resamples: pl.p.Resamples, Seed: pl.o.Seed})
		if err != nil {
			return nil, fmt.Errorf("%s of labels: %w", pctName(f), err)
		}
		dir := pl.probeDir(in.Name, f)
		r := &unitResult{Init: in.Name, Eval: evalLinear, Fraction: f, Studies: len(subsets[f]), Study: m, Predictions: preds, Dir: dir, Seconds: time.Since(start).Seconds()}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := writePredictions(filepath.Join(dir, "predictions.csv"), preds); err != nil {
			return nil, err
		}
		if err := writeJSON(filepath.Join(dir, "metrics.json"), struct {
			Fingerprint string
			*unitResult
		}{fp, r}); err != nil {
			return nil, err
		}
		pl.log.Info("linear probe", "init", in.Name, "fraction", pctName(f), "studies", len(subsets[f]),
			"test study AUROC", m.AUROC.String(), "k-NN AUROC", fmt.Sprintf("%.3f", res.KNNAUROC))
		out = append(out, r)
	}
	return out, nil
}

// probeDir is where the linear probe of an initialisation at a fraction
// keeps its results.
func (pl *pipeline) probeDir(init string, f float64) string {
	return filepath.Join(pl.o.Out, "probe", init, pctName(f))
}

// frozenModel returns the encoder that fine-tuning starts from for an
// initialisation (finetune.NewModel: the same random weights for Random,
// the checkpoint's encoder for the self-supervised ones), as a
// pretrain.Model without heads: the classifier's weights without fc.
func (pl *pipeline) frozenModel(in initSpec) (*pretrain.Model, error) {
	clf, _, err := finetune.NewModel(pl.finetuneConfig(in), finetune.Init{Weights: in.Weights})
	if err != nil {
		return nil, err
	}
	cfg := clf.Config
	cfg.NumClasses = 0
	enc, err := resnet3d.New(cfg, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, err
	}
	state, err := nn.ParamTensors(clf.Params())
	if err != nil {
		return nil, err
	}
	delete(state, "fc.weight")
	delete(state, "fc.bias")
	if _, err := nn.ApplyState(enc.Params(), state, true); err != nil {
		return nil, err
	}
	return &pretrain.Model{Encoder: enc}, nil
}

// rowsOf returns the indices in all of the records of sub (by path).
func rowsOf(all, sub *video.Manifest) []int {
	index := make(map[string]int, len(all.Records))
	for i, r := range all.Records {
		index[r.Path] = i
	}
	rows := make([]int, 0, len(sub.Records))
	for _, r := range sub.Records {
		rows = append(rows, index[r.Path])
	}
	return rows
}

// studyPredictions turns study-level probe scores into Predictions.
func studyPredictions(g metrics.Grouped) finetune.Predictions {
	var p finetune.Predictions
	for i, id := range g.IDs {
		label := 0
		if g.Labels[i] {
			label = 1
		}
		p.Studies = append(p.Studies, finetune.Prediction{ID: id, Study: id, Label: label, Prob: g.Scores[i], Count: g.Counts[i]})
	}
	return p
}
