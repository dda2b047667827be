package metrics

import (
	"cmp"
	"math"
	"slices"
)

// ranking is the data ordered by decreasing score, with tied scores merged.
// Group g holds every sample whose score equals thresholds[g]; thresholds
// strictly decrease. group maps a sample index to its group.
type ranking struct {
	thresholds []float64
	pos, neg   []int // positives and negatives in each group
	group      []int // sample index -> group
	nPos, nNeg int
}

// rank sorts the samples once by decreasing score and merges ties.
// The input must already be checked.
func rank(labels []bool, scores []float64) ranking {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
	r := ranking{group: make([]int, len(scores))}
	for k, i := range idx {
		if k == 0 || scores[i] != scores[idx[k-1]] {
			r.thresholds = append(r.thresholds, scores[i])
			r.pos = append(r.pos, 0)
			r.neg = append(r.neg, 0)
		}
		g := len(r.thresholds) - 1
		r.group[i] = g
		if labels[i] {
			r.pos[g]++
			r.nPos++
		} else {
			r.neg[g]++
			r.nNeg++
		}
	}
	return r
}

// aucFromCounts is the Mann-Whitney form of the area under the ROC curve:
// the fraction of (positive, negative) pairs ordered correctly, counting tied
// pairs as one half. pos and neg are counts per group in decreasing score
// order. The sum is kept in integers, so the only rounding is the final
// division.
func aucFromCounts(pos, neg []int, nPos, nNeg int) float64 {
	var twice, above int64 // twice the number of correctly ordered pairs
	for g := range pos {
		twice += int64(neg[g]) * (2*above + int64(pos[g]))
		above += int64(pos[g])
	}
	return float64(twice) / (2 * float64(nPos) * float64(nNeg))
}

// AUROC returns the area under the receiver operating characteristic curve of
// scores for binary labels (true = positive): the probability that a random
// positive scores higher than a random negative, ties counting one half.
// This is the value of scikit-learn's roc_auc_score, and the trapezoidal area
// under ROC. It is computed exactly from the Mann-Whitney U statistic, in
// O(n log n).
//
// Both classes must be present; one class, empty input, mismatched lengths
// and NaN or infinite scores are errors.
func AUROC(labels []bool, scores []float64) (float64, error) {
	if _, _, err := checkInput("AUROC", labels, scores, true); err != nil {
		return math.NaN(), err
	}
	r := rank(labels, scores)
	return aucFromCounts(r.pos, r.neg, r.nPos, r.nNeg), nil
}

// ROCCurve is a receiver operating characteristic curve. Point i is the false
// and true positive rate of the rule "score >= Thresholds[i] is positive".
// FPR and TPR increase; Thresholds decrease.
type ROCCurve struct {
	FPR, TPR, Thresholds []float64
}

// ROC returns the ROC curve of scores for binary labels (true = positive)
// with scikit-learn's roc_curve semantics and drop_intermediate=True: one
// candidate point per distinct score, of which the points lying between and
// collinear with their neighbours are dropped, and a first point (0, 0) whose
// threshold is +Inf. (scikit-learn before 1.3 gave that first threshold as
// the largest score plus one; from 1.3 it is +Inf, as here.)
//
// Both classes must be present.
func ROC(labels []bool, scores []float64) (ROCCurve, error) {
	if _, _, err := checkInput("ROC", labels, scores, true); err != nil {
		return ROCCurve{}, err
	}
	r := rank(labels, scores)
	G := len(r.thresholds)
	tps := make([]int, G)
	fps := make([]int, G)
	var tp, fp int
	for g := range G {
		tp += r.pos[g]
		fp += r.neg[g]
		tps[g], fps[g] = tp, fp
	}
	c := ROCCurve{
		FPR:        []float64{0},
		TPR:        []float64{0},
		Thresholds: []float64{math.Inf(1)},
	}
	for g := range G {
		if G > 2 && g > 0 && g < G-1 &&
			fps[g+1]-2*fps[g]+fps[g-1] == 0 && tps[g+1]-2*tps[g]+tps[g-1] == 0 {
			continue // collinear with its neighbours
		}
		c.FPR = append(c.FPR, float64(fps[g])/float64(r.nNeg))
		c.TPR = append(c.TPR, float64(tps[g])/float64(r.nPos))
		c.Thresholds = append(c.Thresholds, r.thresholds[g])
	}
	return c, nil
}

// PRCurve is a precision-recall curve with scikit-learn's
// precision_recall_curve layout: Thresholds increase, and for i <
// len(Thresholds), Precision[i] and Recall[i] are those of the rule
// "score >= Thresholds[i] is positive". The final point, with no threshold,
// is precision 1 and recall 0. Recall decreases.
type PRCurve struct {
	Precision, Recall, Thresholds []float64
}

// PR returns the precision-recall curve of scores for binary labels (true =
// positive), one point per distinct score, as scikit-learn 1.2's
// precision_recall_curve (no point is dropped, including those beyond full
// recall).
//
// Both classes must be present: scikit-learn sets recall to 1 when there is
// no positive, which this package treats as an error instead.
func PR(labels []bool, scores []float64) (PRCurve, error) {
	if _, _, err := checkInput("PR", labels, scores, true); err != nil {
		return PRCurve{}, err
	}
	return prCurve(rank(labels, scores)), nil
}

func prCurve(r ranking) PRCurve {
	G := len(r.thresholds)
	c := PRCurve{
		Precision:  make([]float64, G+1),
		Recall:     make([]float64, G+1),
		Thresholds: make([]float64, G),
	}
	var tp, fp int
	for g := range G {
		tp += r.pos[g]
		fp += r.neg[g]
		k := G - 1 - g // reversed: increasing thresholds
		c.Precision[k] = float64(tp) / float64(tp+fp)
		c.Recall[k] = float64(tp) / float64(r.nPos)
		c.Thresholds[k] = r.thresholds[g]
	}
	c.Precision[G] = 1
	c.Recall[G] = 0
	return c
}

// AUPRC returns the area under the precision-recall curve by the trapezoidal
// rule over the points of PR, as sklearn.metrics.auc(recall, precision).
// The trapezoid interpolates linearly between points, which is optimistic for
// PR curves; AveragePrecision is the step-wise alternative. Both classes must
// be present.
func AUPRC(labels []bool, scores []float64) (float64, error) {
	if _, _, err := checkInput("AUPRC", labels, scores, true); err != nil {
		return math.NaN(), err
	}
	c := prCurve(rank(labels, scores))
	// Recall decreases, so the trapezoid over increasing recall is the
	// negated sum, as numpy.trapz with sklearn's direction -1.
	var s float64
	for i := 0; i+1 < len(c.Recall); i++ {
		s += (c.Recall[i+1] - c.Recall[i]) * (c.Precision[i+1] + c.Precision[i]) / 2
	}
	return -s, nil
}

// AveragePrecision returns the average precision of scores, the step-wise
// area under the precision-recall curve
//
//	AP = Σ_k (R_k − R_{k+1}) P_k
//
// over the points of PR, with the final point (P=1, R=0) closing the sum.
// This is scikit-learn's average_precision_score. Both classes must be
// present.
func AveragePrecision(labels []bool, scores []float64) (float64, error) {
	if _, _, err := checkInput("AveragePrecision", labels, scores, true); err != nil {
		return math.NaN(), err
	}
	c := prCurve(rank(labels, scores))
	var s float64
	for i := 0; i+1 < len(c.Recall); i++ {
		s += (c.Recall[i+1] - c.Recall[i]) * c.Precision[i]
	}
	return -s, nil
}
