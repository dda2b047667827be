package metrics

import (
	"errors"
	"fmt"
	"math"
)

// Errors that the functions of this package wrap. Test for them with errors.Is;
// the returned errors also name the function and the offending sizes or index.
var (
	// ErrEmpty is returned for input with no samples.
	ErrEmpty = errors.New("empty input")
	// ErrLength is returned when parallel slices differ in length.
	ErrLength = errors.New("mismatched lengths")
	// ErrNotFinite is returned for a NaN or infinite score.
	ErrNotFinite = errors.New("score is not finite")
	// ErrOneClass is returned when a metric that needs both classes gets one.
	ErrOneClass = errors.New("only one class")
)

// Metric is the shape of a metric that can be bootstrapped: it maps
// per-sample binary labels (true = positive) and scores to one number.
// AUROC, AUPRC and AveragePrecision are Metrics, and AtThreshold makes one
// from a threshold rule. A Metric passed to Bootstrap must be safe to call
// from several goroutines at once and must not keep or modify its arguments.
type Metric func(labels []bool, scores []float64) (float64, error)

// LabelsFromInts converts 0/1 labels to the boolean labels used by this
// package (1 is positive). Any other value is an error.
func LabelsFromInts(y []int) ([]bool, error) {
	out := make([]bool, len(y))
	for i, v := range y {
		switch v {
		case 0:
		case 1:
			out[i] = true
		default:
			return nil, fmt.Errorf("metrics: LabelsFromInts: label %d is %d, want 0 or 1", i, v)
		}
	}
	return out, nil
}

// checkInput validates parallel labels and scores for the function named fn
// and returns the number of positives and negatives. It requires both classes
// when both is true.
func checkInput(fn string, labels []bool, scores []float64, both bool) (pos, neg int, err error) {
	if len(labels) != len(scores) {
		return 0, 0, fmt.Errorf("metrics: %s: %w: %d labels, %d scores", fn, ErrLength, len(labels), len(scores))
	}
	if len(labels) == 0 {
		return 0, 0, fmt.Errorf("metrics: %s: %w", fn, ErrEmpty)
	}
	if err := checkFinite(fn, scores); err != nil {
		return 0, 0, err
	}
	for _, l := range labels {
		if l {
			pos++
		}
	}
	neg = len(labels) - pos
	if both && (pos == 0 || neg == 0) {
		return pos, neg, fmt.Errorf("metrics: %s: %w (%d negatives, %d positives)", fn, ErrOneClass, neg, pos)
	}
	return pos, neg, nil
}

func checkFinite(fn string, scores []float64) error {
	for i, s := range scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return fmt.Errorf("metrics: %s: %w: score %d is %v", fn, ErrNotFinite, i, s)
		}
	}
	return nil
}
