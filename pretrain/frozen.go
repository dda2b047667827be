package pretrain

import (
	"context"
	"fmt"

	"github.com/vidssl/vidssl/metrics"
	"github.com/vidssl/vidssl/probe"
	"github.com/vidssl/vidssl/video"
)

// VideoFeatures returns one row of frozen encoder features per record of m,
// in record order (row-major, len(m.Records) x FeatureDim): the mean of the
// features of clips clips of the video (0 means 1), each ClipLength
// consecutive frames at a start fixed by Seed, the record and the clip.
func (p Probe) VideoFeatures(ctx context.Context, model *Model, m *video.Manifest, clips int) ([]float32, error) {
	if clips < 0 {
		return nil, fmt.Errorf("pretrain: probe: %d clips per video, want >= 0", clips)
	}
	clips = max(clips, 1)
	if m == nil || len(m.Records) == 0 {
		return nil, fmt.Errorf("pretrain: probe: no videos")
	}
	rep := &video.Manifest{Records: make([]video.Record, 0, len(m.Records)*clips)}
	for range clips {
		rep.Records = append(rep.Records, m.Records...)
	}
	f, err := p.Features(ctx, model, rep)
	if err != nil {
		return nil, err
	}
	d, n := model.Encoder.FeatureDim(), len(m.Records)
	if len(f) != n*clips*d {
		return nil, fmt.Errorf("pretrain: probe: %d feature values for %d clips of %d", len(f), n*clips, d)
	}
	out := make([]float32, n*d)
	for c := range clips {
		for i, v := range f[c*n*d : (c+1)*n*d] {
			out[i] += v / float32(clips)
		}
	}
	return out, nil
}

// ProbeOptions configures StudyProbes.
type ProbeOptions struct {
	// Linear is the linear probe (the zero value: scikit-learn's defaults).
	Linear probe.Linear
	// KNN is the k-NN probe (the zero value: solo-learn's defaults).
	KNN probe.KNN
}

// ProbeResult is a frozen-encoder evaluation at study level: each test
// video's probe score, averaged over the videos of its study.
type ProbeResult struct {
	// Linear and KNN hold the test studies (sorted by id), their labels
	// and mean scores, for metrics' intervals and paired comparisons.
	Linear, KNN metrics.Grouped
	// LinearAUROC and KNNAUROC are the study-level AUROCs.
	LinearAUROC, KNNAUROC float64
}

// StudyProbes fits the linear and k-NN probes on the videos of train
// (features trainF, one row of d per record, as VideoFeatures returns them;
// every record labelled 0 or 1, both classes present) and evaluates them on
// test's videos (testF) at study level.
func StudyProbes(trainF []float32, train *video.Manifest, testF []float32, test *video.Manifest, d int, o ProbeOptions) (ProbeResult, error) {
	if train == nil || test == nil {
		return ProbeResult{}, fmt.Errorf("pretrain: probes: nil manifest")
	}
	ytr, err := recordLabels("training", train)
	if err != nil {
		return ProbeResult{}, err
	}
	yte, err := recordLabels("test", test)
	if err != nil {
		return ProbeResult{}, err
	}
	lin, err := o.Linear.Fit(trainF, len(ytr), d, ytr)
	if err != nil {
		return ProbeResult{}, fmt.Errorf("pretrain: probes: %w", err)
	}
	ls, err := lin.Scores(testF, len(yte))
	if err != nil {
		return ProbeResult{}, fmt.Errorf("pretrain: probes: %w", err)
	}
	ks, err := o.KNN.Scores(trainF, len(ytr), ytr, testF, len(yte), d)
	if err != nil {
		return ProbeResult{}, fmt.Errorf("pretrain: probes: %w", err)
	}
	ids := make([]string, len(yte))
	labels := make([]bool, len(yte))
	for i, r := range test.Records {
		ids[i], labels[i] = r.Study, yte[i] == 1
	}
	var res ProbeResult
	for _, x := range []struct {
		scores []float64
		group  *metrics.Grouped
		auroc  *float64
	}{{ls, &res.Linear, &res.LinearAUROC}, {ks, &res.KNN, &res.KNNAUROC}} {
		g, err := metrics.MeanBy(ids, labels, x.scores)
		if err != nil {
			return ProbeResult{}, fmt.Errorf("pretrain: probes: %w", err)
		}
		a, err := metrics.AUROC(g.Labels, g.Scores)
		if err != nil {
			return ProbeResult{}, fmt.Errorf("pretrain: probes: test studies: %w", err)
		}
		*x.group, *x.auroc = g, a
	}
	return res, nil
}

// recordLabels returns the labels of m's records, which must be 0 or 1 and
// have a study id.
func recordLabels(what string, m *video.Manifest) ([]int, error) {
	if len(m.Records) == 0 {
		return nil, fmt.Errorf("pretrain: probes: no %s videos", what)
	}
	y := make([]int, len(m.Records))
	for i, r := range m.Records {
		if r.Label != 0 && r.Label != 1 {
			return nil, fmt.Errorf("pretrain: probes: %s video %s (%s row %d) has label %d, want 0 or 1", what, r.Path, r.File, r.Row, r.Label)
		}
		if r.Study == "" {
			return nil, fmt.Errorf("pretrain: probes: %s video %s (%s row %d) has no study id", what, r.Path, r.File, r.Row)
		}
		y[i] = r.Label
	}
	return y, nil
}

// Monitor evaluates the frozen encoder during pretraining, as solo-learn's
// online k-NN and linear evaluations do: every Every epochs (and after the
// last) both probes are fitted on Train's labelled videos and scored on
// Test's at study level, and a model with an order head has its frame-order
// accuracy measured on one shuffled clip of every Test video; the results
// go to the epoch's EpochStats, the history CSV and Progress.
type Monitor struct {
	// Every is the number of epochs between evaluations (>= 1).
	Every int
	// Train holds the labelled videos the probes are fitted on; Test those
	// they are scored on (typically the validation split).
	Train, Test *video.Manifest
	// Clips is the number of clips averaged per video (0 means 1).
	Clips int
	// Options configures the probes.
	Options ProbeOptions
}

// validate checks the monitor's settings.
func (m *Monitor) validate() error {
	if m == nil {
		return nil
	}
	switch {
	case m.Every < 1:
		return fmt.Errorf("pretrain: config: Monitor.Every = %d, want >= 1", m.Every)
	case m.Clips < 0:
		return fmt.Errorf("pretrain: config: Monitor.Clips = %d, want >= 0", m.Clips)
	case m.Train == nil || m.Test == nil:
		return fmt.Errorf("pretrain: config: Monitor needs Train and Test manifests")
	}
	if _, err := recordLabels("Monitor.Train", m.Train); err != nil {
		return err
	}
	_, err := recordLabels("Monitor.Test", m.Test)
	return err
}

// monitorResult is what one evaluation of the monitor measured.
type monitorResult struct {
	ProbeResult
	// order is the held-out frame-order accuracy (0 without an order head).
	order float64
}

// monitor runs the monitor's probes on the model as it is now.
func (r *runner) monitor(ctx context.Context) (monitorResult, error) {
	mon := r.cfg.Monitor
	if err := r.sync(); err != nil {
		return monitorResult{}, fmt.Errorf("pretrain: monitor: %w", err)
	}
	p := Probe{ClipLength: r.cfg.ClipLength, BatchSize: r.cfg.BatchPairs, Seed: r.cfg.Seed, Workers: r.cfg.Workers, Decode: r.cfg.Decode, Preprocess: r.cfg.Preprocess}
	trainF, err := p.VideoFeatures(ctx, r.model, mon.Train, mon.Clips)
	if err != nil {
		return monitorResult{}, fmt.Errorf("pretrain: monitor: %w", err)
	}
	testF, err := p.VideoFeatures(ctx, r.model, mon.Test, mon.Clips)
	if err != nil {
		return monitorResult{}, fmt.Errorf("pretrain: monitor: %w", err)
	}
	var res monitorResult
	res.ProbeResult, err = StudyProbes(trainF, mon.Train, testF, mon.Test, r.model.Encoder.FeatureDim(), mon.Options)
	if err != nil {
		return monitorResult{}, fmt.Errorf("pretrain: monitor: %w", err)
	}
	if r.model.Order != nil {
		if res.order, err = p.FrameOrder(ctx, r.model, mon.Test); err != nil {
			return monitorResult{}, fmt.Errorf("pretrain: monitor: %w", err)
		}
	}
	return res, nil
}
