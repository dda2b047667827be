package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vidssl/vidssl/figures"
	"github.com/vidssl/vidssl/finetune"
	"github.com/vidssl/vidssl/metrics"
	"github.com/vidssl/vidssl/nn"
)

// writePredictions writes the video- and study-level test predictions.
func writePredictions(path string, p finetune.Predictions) error {
	return writeFileAtomic(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write([]string{"level", "id", "study", "label", "prob", "count"})
		for _, level := range []struct {
			name  string
			preds []finetune.Prediction
		}{{"video", p.Videos}, {"study", p.Studies}} {
			for _, q := range level.preds {
				cw.Write([]string{level.name, q.ID, q.Study, strconv.Itoa(q.Label), strconv.FormatFloat(q.Prob, 'g', -1, 64), strconv.Itoa(q.Count)})
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// readPredictions reads what writePredictions wrote.
func readPredictions(path string) (finetune.Predictions, error) {
	var p finetune.Predictions
	f, err := os.Open(path)
	if err != nil {
		return p, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	for i, row := range rows[min(1, len(rows)):] {
		if len(row) != 6 {
			return p, fmt.Errorf("%s: row %d: %d fields, want 6", path, i+2, len(row))
		}
		label, err1 := strconv.Atoi(row[3])
		prob, err2 := strconv.ParseFloat(row[4], 64)
		count, err3 := strconv.Atoi(row[5])
		if err1 != nil || err2 != nil || err3 != nil {
			return p, fmt.Errorf("%s: row %d: bad number", path, i+2)
		}
		q := finetune.Prediction{ID: row[1], Study: row[2], Label: label, Prob: prob, Count: count}
		switch row[0] {
		case "video":
			p.Videos = append(p.Videos, q)
		case "study":
			p.Studies = append(p.Studies, q)
		default:
			return p, fmt.Errorf("%s: row %d: level %q", path, i+2, row[0])
		}
	}
	return p, nil
}

// comparison is a paired comparison of one initialisation with Random at
// one label fraction, at study level, for one evaluation (fine-tuning or
// the linear probe).
type comparison struct {
	Init     string
	Eval     string
	Fraction float64
	Paired   metrics.Paired
	DeLong   metrics.DeLongResult
}

func (pl *pipeline) comparisons() ([]comparison, error) {
	var out []comparison
	for _, set := range [][]*unitResult{pl.results, pl.probes} {
		for _, r := range set {
			if r.Init == initRandom {
				continue
			}
			base := find(set, initRandom, r.Fraction)
			if base == nil {
				continue
			}
			where := fmt.Sprintf("%s vs Random (%s) at %s", r.Init, r.evalName(), pctName(r.Fraction))
			labels, a, b, err := pairedScores(r.Predictions.Studies, base.Predictions.Studies)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			paired, err := metrics.PairedBootstrapAUROC(labels, a, b, metrics.BootstrapOptions{Resamples: pl.p.Resamples, Seed: pl.o.Seed})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			c := comparison{Init: r.Init, Eval: r.evalName(), Fraction: r.Fraction, Paired: paired}
			if c.DeLong, err = metrics.DeLong(labels, a, b); err != nil {
				// Too few studies of a class for DeLong's variance: say so in
				// the tables rather than stop.
				pl.log.Warn("DeLong test not computed", "comparison", where, "err", err)
				c.DeLong.Z, c.DeLong.P = math.NaN(), math.NaN()
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// evalName is the unit's evaluation, fine-tuning when not recorded.
func (r *unitResult) evalName() string {
	if r.Eval == "" {
		return evalFineTune
	}
	return r.Eval
}

// pairedScores lines up two models' predictions of the same studies.
func pairedScores(a, b []finetune.Prediction) (labels []bool, sa, sb []float64, err error) {
	if len(a) != len(b) {
		return nil, nil, nil, fmt.Errorf("%d and %d studies", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Label != b[i].Label {
			return nil, nil, nil, fmt.Errorf("study %d differs: %q and %q", i, a[i].ID, b[i].ID)
		}
		labels = append(labels, a[i].Label == 1)
		sa, sb = append(sa, a[i].Prob), append(sb, b[i].Prob)
	}
	return labels, sa, sb, nil
}

func f4(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

func (pl *pipeline) report() error {
	out := pl.o.Out
	// results.csv
	err := writeFileAtomic(filepath.Join(out, "results.csv"), func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write([]string{"initialisation", "evaluation", "fraction", "train_studies", "level", "n", "positives", "auroc", "auroc_lower", "auroc_upper", "ci_level",
			"auprc", "average_precision", "accuracy", "balanced_accuracy", "mcc", "precision", "recall", "f1", "best_f1_threshold", "best_f2_threshold", "lr", "pos_weight", "best_epoch"})
		for _, r := range append(slices.Clone(pl.results), pl.probes...) {
			for _, lv := range []struct {
				name string
				m    finetune.Metrics
			}{{"study", r.Study}, {"video", r.Video}} {
				m := lv.m
				if m.N == 0 {
					continue // the linear probe reports studies only
				}
				cw.Write([]string{r.Init, r.evalName(), fmt.Sprint(r.Fraction), strconv.Itoa(r.Studies), lv.name, strconv.Itoa(m.N), strconv.Itoa(m.Positives),
					f4(m.AUROC.Estimate), f4(m.AUROC.Lower), f4(m.AUROC.Upper), fmt.Sprint(m.AUROC.Level),
					f4(m.AUPRC), f4(m.AveragePrecision), f4(m.Accuracy), f4(m.BalancedAccuracy), f4(m.MCC), f4(m.Precision), f4(m.Recall), f4(m.F1),
					f4(m.BestF1.Threshold), f4(m.BestF2.Threshold), fmt.Sprint(r.LR), fmt.Sprint(r.PosWeight), strconv.Itoa(r.BestEpoch)})
			}
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return err
	}
	// comparisons.csv
	comps, err := pl.comparisons()
	if err != nil {
		return err
	}
	err = writeFileAtomic(filepath.Join(out, "comparisons.csv"), func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write([]string{"initialisation", "baseline", "evaluation", "fraction", "auroc_difference", "difference_lower", "difference_upper", "paired_bootstrap_p", "delong_z", "delong_p"})
		for _, c := range comps {
			cw.Write([]string{c.Init, initRandom, c.Eval, fmt.Sprint(c.Fraction), f4(c.Paired.Diff.Estimate), f4(c.Paired.Diff.Lower), f4(c.Paired.Diff.Upper),
				f4(c.Paired.P), f4(c.DeLong.Z), f4(c.DeLong.P)})
		}
		cw.Flush()
		return cw.Error()
	})
	if err != nil {
		return err
	}
	// figure2.png: AUROC against label fraction, fine-tuned (solid) and
	// linear probe (dashed, the same colour per initialisation).
	var series []figures.FractionSeries
	for k, name := range pl.initNames() {
		for _, ev := range []struct {
			set    []*unitResult
			suffix string
		}{{pl.results, ""}, {pl.probes, ", linear probe"}} {
			s := figures.FractionSeries{Name: name + ev.suffix, Style: k + 1, Dashed: ev.suffix != ""}
			for _, f := range pl.sortedFractions() {
				if r := find(ev.set, name, f); r != nil {
					iv := r.Study.AUROC
					s.Points = append(s.Points, figures.FractionPoint{Percent: f * 100, AUROC: iv.Estimate, Lower: iv.Lower, Upper: iv.Upper})
				}
			}
			if len(s.Points) > 0 {
				series = append(series, s)
			}
		}
	}
	title := fmt.Sprintf("Study-level test AUROC (%s preset, %.0f%% CI; dashed: linear probe)", pl.p.Name, 100*levelOf(pl.results))
	if err := figures.AUROCByFractionFile(filepath.Join(out, "figure2.png"), series, figures.Options{Title: title}); err != nil {
		return err
	}
	// ROC curves at the smallest and the largest fraction.
	fs := pl.sortedFractions()
	for _, f := range []float64{fs[0], fs[len(fs)-1]} {
		var curves []figures.ROCCurve
		for _, name := range pl.initNames() {
			r := pl.result(name, f)
			if r == nil {
				continue
			}
			labels, scores := studyScores(r.Predictions.Studies)
			roc, err := metrics.ROC(labels, scores)
			if err != nil {
				return fmt.Errorf("ROC of %s at %s: %w", name, pctName(f), err)
			}
			iv := r.Study.AUROC
			curves = append(curves, figures.ROCCurve{Name: name, FPR: roc.FPR, TPR: roc.TPR, AUROC: iv.Estimate, Lower: iv.Lower, Upper: iv.Upper})
		}
		path := filepath.Join(out, fmt.Sprintf("roc-%g.png", f*100))
		if err := figures.ROCFile(path, curves, figures.Options{Title: fmt.Sprintf("Study-level ROC, %s of training labels", pctName(f))}); err != nil {
			return err
		}
	}
	if err := pl.writeSummary(comps); err != nil {
		return err
	}
	pl.log.Info("report written", "results", filepath.Join(out, "results.csv"), "summary", filepath.Join(out, "summary.md"))
	return nil
}

func levelOf(rs []*unitResult) float64 {
	for _, r := range rs {
		if r.Study.AUROC.Level > 0 {
			return r.Study.AUROC.Level
		}
	}
	return 0.95
}

func studyScores(preds []finetune.Prediction) ([]bool, []float64) {
	labels := make([]bool, len(preds))
	scores := make([]float64, len(preds))
	for i, q := range preds {
		labels[i], scores[i] = q.Label == 1, q.Prob
	}
	return labels, scores
}

func (pl *pipeline) writeSummary(comps []comparison) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Aortic stenosis: self-supervised pretraining vs label fraction (%s preset)\n\n", pl.p.Name)
	fmt.Fprintf(&b, "Written %s by `go run ./examples/aorticstenosis -preset %s` (seed %d, BLAS %s, %d workers).\n\n",
		time.Now().UTC().Format(time.RFC3339), pl.p.Name, pl.o.Seed, nn.BLAS(), pl.o.Workers)
	src := "synthetic echoes (video/echosynth) in " + filepath.Join(pl.o.Out, "data")
	if pl.o.Data != "" {
		src = pl.o.Data
	}
	fmt.Fprintf(&b, "## Data\n\nSource: %s.\n\n| split | videos | studies | severe studies |\n| --- | --- | --- | --- |\n", src)
	for _, split := range []string{"train", "val", "test"} {
		s := pl.data.Subset(split)
		labels, _ := finetune.StudyLabels(s)
		pos := 0
		for _, l := range labels {
			pos += l
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d (%.1f%%) |\n", split, len(s.Records), len(labels), pos, 100*float64(pos)/float64(max(1, len(labels))))
	}
	level := levelOf(pl.results)
	fmt.Fprintf(&b, "\n## Study-level test AUROC (%.0f%% bootstrap CI, %d resamples)\n\n| initialisation |", 100*level, pl.p.Resamples)
	fs := pl.sortedFractions()
	for _, f := range fs {
		fmt.Fprintf(&b, " %s |", pctName(f))
	}
	b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(fs)) + "\n")
	writeAUROCTable(&b, pl.initNames(), fs, pl.results)
	if len(pl.probes) > 0 {
		fmt.Fprintf(&b, "\n### Linear probe of the frozen encoder (study level, %.0f%% bootstrap CI)\n\n"+
			"Logistic regression (scikit-learn's defaults) on the encoder's pooled features, averaged over %d clips of %d frames per video, "+
			"fitted on the same labelled studies as fine-tuning; a study's score is the mean of its videos'.\n\n| initialisation |", 100*level, pl.p.Probe.Clips, pl.p.Probe.ClipLength)
		for _, f := range fs {
			fmt.Fprintf(&b, " %s |", pctName(f))
		}
		b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(fs)) + "\n")
		writeAUROCTable(&b, pl.initNames(), fs, pl.probes)
	}
	b.WriteString("\nVideo-level AUROC, AUPRC and the threshold metrics are in `results.csv`.\n\n![AUROC by label fraction](figure2.png)\n\n")
	if len(comps) > 0 {
		b.WriteString("## Paired comparisons with Random (study level)\n\n| initialisation | evaluation | fraction | AUROC difference (CI) | paired bootstrap p | DeLong p |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, c := range comps {
			d := c.Paired.Diff
			fmt.Fprintf(&b, "| %s | %s | %s | %+.3f (%+.3f to %+.3f) | %.3f | %.3f |\n", c.Init, c.Eval, pctName(c.Fraction), d.Estimate, d.Lower, d.Upper, c.Paired.P, c.DeLong.P)
		}
		b.WriteString("\n")
	}
	if len(pl.ssl) > 0 {
		b.WriteString("## Pretraining\n\nNT-Xent's no-information value is ln(2N-1) for N pairs per step; frame order's chance accuracy is 1/24. " +
			"Frame-order accuracy is measured on the training views; the last three columns are the monitor's at its last evaluation (validation videos): " +
			"frame-order accuracy on held-out clips, and linear and k-NN probes of the frozen encoder (study-level AUROC).\n\n" +
			"| method | epochs | final loss | NT-Xent | frame-order CE | frame-order accuracy | seconds | held-out frame order | linear probe AUROC | k-NN AUROC |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, m := range sslMethods {
			h := pl.ssl[sslInitName[m]]
			if len(h) == 0 {
				continue
			}
			last := h[len(h)-1]
			var sec float64
			for _, e := range h {
				sec += e.Seconds
			}
			order, lin, knn := "-", "-", "-"
			for _, e := range h {
				if e.Probed {
					lin, knn = fmt.Sprintf("%.3f (epoch %d)", e.LinearAUROC, e.Epoch), fmt.Sprintf("%.3f", e.KNNAUROC)
					if m.FrameOrder() {
						order = fmt.Sprintf("%.3f", e.HeldOutOrderAccuracy)
					}
				}
			}
			fmt.Fprintf(&b, "| %s | %d | %.4f | %.4f | %.4f | %.3f | %.0f | %s | %s | %s |\n", sslInitName[m], len(h), last.Loss, last.NTXent, last.Order, last.OrderAccuracy, sec, order, lin, knn)
		}
		b.WriteString("\n")
	}
	b.WriteString("## Grad-CAM\n\n![Grad-CAM of the most confident severe-AS predictions](figure3.png)\n\n")
	b.WriteString("## Settings\n\nEvery setting of this run, as JSON (the pretraining configuration per method and the fine-tuning configuration).\n\n```json\n")
	settings, err := json.MarshalIndent(struct {
		Preset    string
		Seed      uint64
		FrameSize int
		Data      any
		Pretrain  any
		Finetune  any
		Fractions []float64
		Resamples int
		CAMFrames int
	}{pl.p.Name, pl.o.Seed, pl.p.FrameSize, pl.p.Data, pl.p.PretrainConfigs, pl.p.Finetune, pl.p.Fractions, pl.p.Resamples, pl.p.CAMFrames}, "", "  ")
	if err != nil {
		return err
	}
	b.Write(settings)
	b.WriteString("\n```\n")
	return writeFileAtomic(filepath.Join(pl.o.Out, "summary.md"), func(w io.Writer) error {
		_, err := io.WriteString(w, b.String())
		return err
	})
}

// writeAUROCTable writes one row per initialisation of a study-level AUROC
// table whose header is already written.
func writeAUROCTable(b *strings.Builder, inits []string, fs []float64, set []*unitResult) {
	for _, name := range inits {
		fmt.Fprintf(b, "| %s |", name)
		for _, f := range fs {
			if r := find(set, name, f); r != nil {
				fmt.Fprintf(b, " %s |", r.Study.AUROC.String())
			} else {
				b.WriteString(" - |")
			}
		}
		b.WriteString("\n")
	}
}
