package metrics

import (
	"fmt"
	"math"
)

// Paired compares two models scored on the same units by a paired bootstrap:
// every resample draws one set of units and evaluates both models on it.
type Paired struct {
	A, B Interval // each model's metric and interval
	Diff Interval // the difference A − B and its interval

	// P is the two-sided bootstrap p-value for "no difference":
	//
	//	P = min(1, 2·min(1 + #{d ≤ 0}, 1 + #{d ≥ 0}) / (R + 1))
	//
	// where d are the R resampled differences. It is the smallest level at
	// which the percentile interval of the difference excludes 0, with the
	// usual +1 so that it is never 0: the smallest possible value is
	// 2/(R+1).
	P float64
}

// PairedBootstrap compares models A and B, whose scores for the same units
// are scoresA[i] and scoresB[i], with metric m. Resampling follows Bootstrap
// (same options, same one-class rule, same resamples for the same seed).
func PairedBootstrap(labels []bool, scoresA, scoresB []float64, m Metric, o BootstrapOptions) (Paired, error) {
	const fn = "PairedBootstrap"
	if m == nil {
		return Paired{}, fmt.Errorf("metrics: %s: nil metric", fn)
	}
	o, err := o.resolve(fn)
	if err != nil {
		return Paired{}, err
	}
	if err := checkPair(fn, labels, scoresA, scoresB); err != nil {
		return Paired{}, err
	}
	estA, err := m(labels, scoresA)
	if err != nil {
		return Paired{}, fmt.Errorf("metrics: %s: model A on the input: %w", fn, err)
	}
	estB, err := m(labels, scoresB)
	if err != nil {
		return Paired{}, fmt.Errorf("metrics: %s: model B on the input: %w", fn, err)
	}
	va := make([]float64, o.Resamples)
	vb := make([]float64, o.Resamples)
	s := newSampler(labels, o)
	redrawn, err := s.run(fn, o, func() resampleFunc {
		n := len(labels)
		rl, ra, rb := make([]bool, n), make([]float64, n), make([]float64, n)
		return func(i int, idx []int) error {
			for k, j := range idx {
				rl[k], ra[k], rb[k] = labels[j], scoresA[j], scoresB[j]
			}
			a, err := m(rl, ra)
			if err != nil {
				return fmt.Errorf("model A: %w", err)
			}
			b, err := m(rl, rb)
			if err != nil {
				return fmt.Errorf("model B: %w", err)
			}
			if math.IsNaN(a) || math.IsNaN(b) {
				return fmt.Errorf("metric returned NaN")
			}
			va[i], vb[i] = a, b
			return nil
		}
	})
	if err != nil {
		return Paired{}, err
	}
	return paired(estA, estB, va, vb, o, redrawn), nil
}

// PairedBootstrapAUROC is PairedBootstrap with AUROC, computed as fast as
// BootstrapAUROC. It draws the same resamples as PairedBootstrap with the
// same options.
func PairedBootstrapAUROC(labels []bool, scoresA, scoresB []float64, o BootstrapOptions) (Paired, error) {
	const fn = "PairedBootstrapAUROC"
	o, err := o.resolve(fn)
	if err != nil {
		return Paired{}, err
	}
	if err := checkPair(fn, labels, scoresA, scoresB); err != nil {
		return Paired{}, err
	}
	ra, rb := rank(labels, scoresA), rank(labels, scoresB)
	va := make([]float64, o.Resamples)
	vb := make([]float64, o.Resamples)
	s := newSampler(labels, o)
	redrawn, err := s.run(fn, o, func() resampleFunc {
		ca, cb := newCounter(ra, labels), newCounter(rb, labels)
		return func(i int, idx []int) error {
			va[i], vb[i] = ca.auc(idx), cb.auc(idx)
			return nil
		}
	})
	if err != nil {
		return Paired{}, err
	}
	estA := aucFromCounts(ra.pos, ra.neg, ra.nPos, ra.nNeg)
	estB := aucFromCounts(rb.pos, rb.neg, rb.nPos, rb.nNeg)
	return paired(estA, estB, va, vb, o, redrawn), nil
}

func checkPair(fn string, labels []bool, scoresA, scoresB []float64) error {
	if len(scoresA) != len(scoresB) {
		return fmt.Errorf("metrics: %s: %w: %d scores for model A, %d for model B", fn, ErrLength, len(scoresA), len(scoresB))
	}
	if _, _, err := checkInput(fn, labels, scoresA, true); err != nil {
		return fmt.Errorf("%w (model A)", err)
	}
	if err := checkFinite(fn, scoresB); err != nil {
		return fmt.Errorf("%w (model B)", err)
	}
	return nil
}

func paired(estA, estB float64, va, vb []float64, o BootstrapOptions, redrawn int) Paired {
	d := make([]float64, len(va))
	le, ge := 1, 1
	for i := range va {
		d[i] = va[i] - vb[i]
		if d[i] <= 0 {
			le++
		}
		if d[i] >= 0 {
			ge++
		}
	}
	p := math.Min(1, 2*float64(min(le, ge))/float64(len(d)+1))
	return Paired{
		A:    percentiles(estA, va, o, redrawn),
		B:    percentiles(estB, vb, o, redrawn),
		Diff: percentiles(estA-estB, d, o, redrawn),
		P:    p,
	}
}

// DeLongResult is the outcome of DeLong's test for two correlated AUROCs.
type DeLongResult struct {
	AUROCA, AUROCB float64
	Diff           float64 // AUROCA − AUROCB
	VarA, VarB     float64 // DeLong variance of each AUROC
	Cov            float64 // DeLong covariance of the two AUROCs
	Var            float64 // variance of Diff: VarA + VarB − 2·Cov
	Z              float64 // Diff / sqrt(Var)
	P              float64 // two-sided p-value, 2·(1 − Φ(|Z|))
}

// DeLong compares the AUROCs of two models scored on the same units with
// DeLong, DeLong and Clarke-Pearson's (1988) test, computed by Sun and Xu's
// (2014) fast algorithm. With m positives and n negatives, the structural
// components of model r are
//
//	V10[i] = (#{negatives below x_i} + ½·#{negatives tied with x_i}) / n   (positive i)
//	V01[j] = (#{positives above y_j} + ½·#{positives tied with y_j}) / m   (negative j)
//
// and the covariance of the two AUROCs is S10/m + S01/n, where S10 and S01
// are the 2x2 sample covariances (denominator m−1, n−1) of V10 and V01.
// This is the test of pROC's roc.test(method = "delong", paired = TRUE).
//
// At least two positives and two negatives are needed. A zero variance of
// the difference (for example identical scores) is an error, since Z is then
// undefined.
func DeLong(labels []bool, scoresA, scoresB []float64) (DeLongResult, error) {
	const fn = "DeLong"
	if err := checkPair(fn, labels, scoresA, scoresB); err != nil {
		return DeLongResult{}, err
	}
	ra, rb := rank(labels, scoresA), rank(labels, scoresB)
	m, n := ra.nPos, ra.nNeg
	if m < 2 || n < 2 {
		return DeLongResult{}, fmt.Errorf("metrics: %s: need at least 2 of each class (%d negatives, %d positives)", fn, n, m)
	}
	v10a, v01a := components(ra, labels)
	v10b, v01b := components(rb, labels)
	s10 := cov2(v10a, v10b)
	s01 := cov2(v01a, v01b)
	var S [3]float64 // var A, var B, cov
	for k := range S {
		S[k] = s10[k]/float64(m) + s01[k]/float64(n)
	}
	r := DeLongResult{
		AUROCA: aucFromCounts(ra.pos, ra.neg, m, n),
		AUROCB: aucFromCounts(rb.pos, rb.neg, m, n),
		VarA:   S[0],
		VarB:   S[1],
		Cov:    S[2],
		Var:    S[0] + S[1] - 2*S[2],
	}
	r.Diff = r.AUROCA - r.AUROCB
	if !(r.Var > 0) {
		return r, fmt.Errorf("metrics: %s: variance of the AUROC difference is %v (are the scores identical?)", fn, r.Var)
	}
	r.Z = r.Diff / math.Sqrt(r.Var)
	r.P = math.Erfc(math.Abs(r.Z) / math.Sqrt2)
	return r, nil
}

// components returns DeLong's structural components V10 (one per positive)
// and V01 (one per negative), in sample order within each class.
func components(r ranking, labels []bool) (v10, v01 []float64) {
	G := len(r.thresholds)
	// Per group: the V10 value of its positives and the V01 value of its negatives.
	g10 := make([]float64, G)
	g01 := make([]float64, G)
	above, below := 0, r.nNeg
	for g := range G {
		below -= r.neg[g]
		g10[g] = (float64(below) + float64(r.neg[g])/2) / float64(r.nNeg)
		g01[g] = (float64(above) + float64(r.pos[g])/2) / float64(r.nPos)
		above += r.pos[g]
	}
	v10 = make([]float64, 0, r.nPos)
	v01 = make([]float64, 0, r.nNeg)
	for i, l := range labels {
		if l {
			v10 = append(v10, g10[r.group[i]])
		} else {
			v01 = append(v01, g01[r.group[i]])
		}
	}
	return v10, v01
}

// cov2 returns the sample variances of a and b and their covariance, with
// denominator len−1.
func cov2(a, b []float64) [3]float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var saa, sbb, sab float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		saa += da * da
		sbb += db * db
		sab += da * db
	}
	d := float64(len(a) - 1)
	return [3]float64{saa / d, sbb / d, sab / d}
}
