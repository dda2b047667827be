package metrics

import (
	"fmt"
	"math"
)

// Confusion is a binary confusion matrix: counts of true and false positives
// and negatives.
//
// Its ratio methods follow scikit-learn's defaults where a ratio is undefined
// (zero_division=0): they return 0 rather than NaN, so check the counts when
// that matters. They are method values usable with AtThreshold, as in
// AtThreshold(0.5, Confusion.F1).
type Confusion struct {
	TP, FP, TN, FN int
}

// ConfusionAt counts the confusion matrix of the rule "score >= threshold is
// positive" against binary labels (true = positive). One class is allowed.
// Empty input, mismatched lengths and NaN or infinite scores are errors; the
// threshold itself may be infinite.
func ConfusionAt(labels []bool, scores []float64, threshold float64) (Confusion, error) {
	if _, _, err := checkInput("ConfusionAt", labels, scores, false); err != nil {
		return Confusion{}, err
	}
	if math.IsNaN(threshold) {
		return Confusion{}, fmt.Errorf("metrics: ConfusionAt: threshold is NaN")
	}
	var c Confusion
	for i, l := range labels {
		switch p := scores[i] >= threshold; {
		case l && p:
			c.TP++
		case l:
			c.FN++
		case p:
			c.FP++
		default:
			c.TN++
		}
	}
	return c, nil
}

// N returns the number of samples.
func (c Confusion) N() int { return c.TP + c.FP + c.TN + c.FN }

func ratio(num, den int) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}

// Accuracy returns (TP+TN)/N, or 0 for an empty matrix.
func (c Confusion) Accuracy() float64 { return ratio(c.TP+c.TN, c.N()) }

// Precision returns TP/(TP+FP), the positive predictive value; 0 when
// nothing is predicted positive.
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall returns TP/(TP+FN), the sensitivity; 0 when there is no positive.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// Specificity returns TN/(TN+FP); 0 when there is no negative.
func (c Confusion) Specificity() float64 { return ratio(c.TN, c.TN+c.FP) }

// F1 returns the harmonic mean of precision and recall, 2TP/(2TP+FP+FN);
// 0 when TP+FP+FN is 0.
func (c Confusion) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

// BalancedAccuracy returns the mean of recall and specificity. As in
// scikit-learn's balanced_accuracy_score, a class absent from the labels is
// left out of the mean, so with one class present it is that class's recall.
func (c Confusion) BalancedAccuracy() float64 {
	switch P, N := c.TP+c.FN, c.TN+c.FP; {
	case P > 0 && N > 0:
		return (c.Recall() + c.Specificity()) / 2
	case P > 0:
		return c.Recall()
	case N > 0:
		return c.Specificity()
	}
	return 0
}

// MCC returns the Matthews correlation coefficient,
//
//	(TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)),
//
// which is 0 when the denominator is 0 (as scikit-learn's matthews_corrcoef).
func (c Confusion) MCC() float64 {
	tp, fp, tn, fn := float64(c.TP), float64(c.FP), float64(c.TN), float64(c.FN)
	den := (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
	if den == 0 {
		return 0
	}
	return (tp*tn - fp*fn) / math.Sqrt(den)
}

// AtThreshold returns the Metric that computes f on the confusion matrix of
// the rule "score >= threshold is positive", for example
// AtThreshold(0.5, Confusion.MCC).
func AtThreshold(threshold float64, f func(Confusion) float64) Metric {
	return func(labels []bool, scores []float64) (float64, error) {
		c, err := ConfusionAt(labels, scores, threshold)
		if err != nil {
			return math.NaN(), err
		}
		return f(c), nil
	}
}

// BestThreshold is the threshold that maximises an F-score over the
// thresholds of a precision-recall curve.
type BestThreshold struct {
	Threshold float64 // "score >= Threshold is positive"
	Beta      float64
	F         float64 // the F-beta score at Threshold
	Precision float64
	Recall    float64
}

// BestFBeta returns the threshold, among the thresholds of PR (the distinct
// scores), that maximises
//
//	F_β = (1+β²)·P·R / (β²·P + R)
//
// with F_β = 0 where P and R are both 0. β = 1 is F1; β = 2 weighs recall
// more (F2). Of equal maxima it returns the lowest threshold, as numpy.argmax
// over scikit-learn's increasing thresholds. β must be positive and finite;
// both classes must be present.
func BestFBeta(labels []bool, scores []float64, beta float64) (BestThreshold, error) {
	if !(beta > 0) || math.IsInf(beta, 0) {
		return BestThreshold{}, fmt.Errorf("metrics: BestFBeta: beta is %v, want positive and finite", beta)
	}
	if _, _, err := checkInput("BestFBeta", labels, scores, true); err != nil {
		return BestThreshold{}, err
	}
	c := prCurve(rank(labels, scores))
	b2 := beta * beta
	best := BestThreshold{Beta: beta, F: -1}
	for i, t := range c.Thresholds {
		p, r := c.Precision[i], c.Recall[i]
		// The explicit conversions keep the compiler from fusing
		// multiply-adds, so the result is bit-for-bit numpy's.
		num := float64(float64((1+b2)*p) * r)
		den := float64(b2*p) + r
		var f float64
		if den != 0 {
			f = num / den
		}
		if f > best.F {
			best = BestThreshold{Threshold: t, Beta: beta, F: f, Precision: p, Recall: r}
		}
	}
	return best, nil
}

// BestF1 is BestFBeta with β = 1.
func BestF1(labels []bool, scores []float64) (BestThreshold, error) {
	return BestFBeta(labels, scores, 1)
}

// BestF2 is BestFBeta with β = 2.
func BestF2(labels []bool, scores []float64) (BestThreshold, error) {
	return BestFBeta(labels, scores, 2)
}
