package metrics_test

import (
	"fmt"

	"github.com/vidssl/vidssl/metrics"
)

func ExampleAUROC() {
	labels := []bool{false, false, true, true}
	scores := []float64{0.1, 0.4, 0.35, 0.8}
	auc, err := metrics.AUROC(labels, scores)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("AUROC %.2f\n", auc)

	_, err = metrics.AUROC([]bool{false, false}, []float64{0.2, 0.3})
	fmt.Println(err)
	// Output:
	// AUROC 0.75
	// metrics: AUROC: only one class (2 negatives, 0 positives)
}

func ExampleAggregate() {
	clips := []metrics.ClipScore{
		{Study: "s2", Video: "s2/a.avi", Label: true, Score: 0.9},
		{Study: "s2", Video: "s2/a.avi", Label: true, Score: 0.7},
		{Study: "s2", Video: "s2/b.avi", Label: true, Score: 0.4},
		{Study: "s1", Video: "s1/a.avi", Label: false, Score: 0.2},
		{Study: "s1", Video: "s1/b.avi", Label: false, Score: 0.6},
	}
	videos, studies, err := metrics.Aggregate(clips)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, id := range videos.IDs {
		fmt.Printf("video %s: %.2f from %d clips\n", id, videos.Scores[i], videos.Counts[i])
	}
	for i, id := range studies.IDs {
		fmt.Printf("study %s: %.2f from %d videos, label %v\n", id, studies.Scores[i], studies.Counts[i], studies.Labels[i])
	}
	// Output:
	// video s1/a.avi: 0.20 from 1 clips
	// video s1/b.avi: 0.60 from 1 clips
	// video s2/a.avi: 0.80 from 2 clips
	// video s2/b.avi: 0.40 from 1 clips
	// study s1: 0.40 from 2 videos, label false
	// study s2: 0.60 from 2 videos, label true
}

func ExampleBootstrapAUROC() {
	// Study-level labels and mean probabilities.
	labels := []bool{false, false, false, true, false, true, false, true, true, false, false, true}
	scores := []float64{0.10, 0.22, 0.35, 0.41, 0.45, 0.52, 0.58, 0.66, 0.71, 0.30, 0.05, 0.90}
	iv, err := metrics.BootstrapAUROC(labels, scores, metrics.BootstrapOptions{
		Level:      0.95,
		Resamples:  2000,
		Seed:       1,
		Stratified: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("AUROC %v, %g%% CI, %d resamples\n", iv, 100*iv.Level, iv.Resamples)
	// Output:
	// AUROC 0.914 (0.686-1.000), 95% CI, 2000 resamples
}

func ExampleConfusionAt() {
	labels := []bool{false, false, true, true, true}
	scores := []float64{0.2, 0.6, 0.4, 0.7, 0.9}
	c, err := metrics.ConfusionAt(labels, scores, 0.5)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", c)
	fmt.Printf("accuracy %.2f, precision %.2f, recall %.2f, F1 %.2f, MCC %.3f\n",
		c.Accuracy(), c.Precision(), c.Recall(), c.F1(), c.MCC())

	best, err := metrics.BestF2(labels, scores)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("best F2 %.3f at threshold %.1f\n", best.F, best.Threshold)
	// Output:
	// {TP:2 FP:1 TN:1 FN:1}
	// accuracy 0.60, precision 0.67, recall 0.67, F1 0.67, MCC 0.167
	// best F2 0.938 at threshold 0.4
}

func ExampleDeLong() {
	labels := []bool{false, false, true, true, false, true, true, false}
	a := []float64{0.1, 0.4, 0.35, 0.8, 0.3, 0.9, 0.2, 0.5}
	b := []float64{0.2, 0.1, 0.5, 0.6, 0.4, 0.7, 0.3, 0.3}
	r, err := metrics.DeLong(labels, a, b)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("AUROC %.4f vs %.4f, z = %.3f, p = %.3f\n", r.AUROCA, r.AUROCB, r.Z, r.P)
	// Output:
	// AUROC 0.6875 vs 0.9062, z = -1.200, p = 0.230
}
