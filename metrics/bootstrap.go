package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
)

// Defaults of BootstrapOptions.
const (
	DefaultLevel      = 0.95
	DefaultResamples  = 10000
	DefaultMaxRedraws = 1000
)

// BootstrapOptions configures Bootstrap and the paired comparisons. The zero
// value means a 95% interval from 10,000 unstratified resamples with seed 0.
type BootstrapOptions struct {
	// Level is the confidence level of the interval, in (0, 1); 0 means
	// DefaultLevel (0.95). Note that a "5th-95th percentile" interval is a
	// level of 0.90.
	Level float64

	// Resamples is the number of bootstrap resamples; 0 means
	// DefaultResamples.
	Resamples int

	// Seed seeds the resampling. Resample i draws from its own PCG generator
	// seeded from (Seed, i), so the result depends on Seed alone, not on
	// Workers or scheduling.
	Seed uint64

	// Stratified resamples positives and negatives separately, keeping
	// their counts fixed. Otherwise all units are resampled together.
	Stratified bool

	// MaxRedraws caps, per resample, how many one-class resamples may be
	// discarded before Bootstrap gives up with an error; 0 means
	// DefaultMaxRedraws.
	MaxRedraws int

	// Workers is the number of goroutines; 0 means runtime.GOMAXPROCS(0).
	Workers int
}

func (o BootstrapOptions) resolve(fn string) (BootstrapOptions, error) {
	if o.Level == 0 {
		o.Level = DefaultLevel
	}
	if !(o.Level > 0 && o.Level < 1) {
		return o, fmt.Errorf("metrics: %s: level %v is not in (0, 1)", fn, o.Level)
	}
	if o.Resamples == 0 {
		o.Resamples = DefaultResamples
	}
	if o.Resamples < 0 {
		return o, fmt.Errorf("metrics: %s: %d resamples", fn, o.Resamples)
	}
	if o.MaxRedraws == 0 {
		o.MaxRedraws = DefaultMaxRedraws
	}
	if o.MaxRedraws < 0 {
		return o, fmt.Errorf("metrics: %s: MaxRedraws is %d", fn, o.MaxRedraws)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	o.Workers = min(o.Workers, o.Resamples)
	return o, nil
}

// Interval is a bootstrap percentile confidence interval.
type Interval struct {
	Estimate     float64 // the metric on the data as given
	Lower, Upper float64 // percentiles (1−Level)/2 and (1+Level)/2 of the resampled values
	Level        float64
	Resamples    int // resamples that entered the percentiles
	Redrawn      int // one-class resamples discarded and drawn again
}

// String formats the interval as "0.872 (0.853-0.891)".
func (iv Interval) String() string {
	return fmt.Sprintf("%.3f (%.3f-%.3f)", iv.Estimate, iv.Lower, iv.Upper)
}

// Bootstrap returns a percentile bootstrap confidence interval for metric m.
//
// Each resample draws len(labels) units with replacement (positives and
// negatives separately when o.Stratified) and evaluates m on them. The units
// are the rows passed in, so pass study-level rows (see Aggregate) to
// resample studies. The bounds are the (1−Level)/2 and (1+Level)/2 quantiles
// of the resampled values, interpolated linearly between order statistics
// (numpy.percentile's default).
//
// One-class rule: a resample that has only positives or only negatives is
// discarded and drawn again from the same resample's generator; the count of
// discarded draws is reported in Interval.Redrawn. If one resample is
// discarded more than o.MaxRedraws times in a row, Bootstrap returns an
// error. The rule applies to every metric, so that all metrics of a data set
// see the same resamples; both classes must therefore be present in the
// input. The same seed gives the same resamples, and so the same interval,
// for every metric and for BootstrapAUROC.
//
// An error from m, or a NaN it returns, stops Bootstrap with an error that
// names the resample.
func Bootstrap(labels []bool, scores []float64, m Metric, o BootstrapOptions) (Interval, error) {
	const fn = "Bootstrap"
	if m == nil {
		return Interval{}, fmt.Errorf("metrics: %s: nil metric", fn)
	}
	o, err := o.resolve(fn)
	if err != nil {
		return Interval{}, err
	}
	if _, _, err := checkInput(fn, labels, scores, true); err != nil {
		return Interval{}, err
	}
	est, err := m(labels, scores)
	if err != nil {
		return Interval{}, fmt.Errorf("metrics: %s: on the input: %w", fn, err)
	}
	s := newSampler(labels, o)
	vals := make([]float64, o.Resamples)
	redrawn, err := s.run(fn, o, func() resampleFunc {
		rl := make([]bool, len(labels))
		rs := make([]float64, len(labels))
		return func(i int, idx []int) error {
			for k, j := range idx {
				rl[k], rs[k] = labels[j], scores[j]
			}
			v, err := m(rl, rs)
			if err == nil && math.IsNaN(v) {
				err = fmt.Errorf("metric returned NaN")
			}
			vals[i] = v
			return err
		}
	})
	if err != nil {
		return Interval{}, err
	}
	return percentiles(est, vals, o, redrawn), nil
}

// BootstrapAUROC is Bootstrap(labels, scores, AUROC, o), computed faster:
// the scores are ranked once, and each resample's AUROC is computed in O(n)
// from the counts of positives and negatives drawn at each distinct score
// (the Mann-Whitney form with ties). It draws the same resamples as
// Bootstrap with the same options, so the intervals agree.
func BootstrapAUROC(labels []bool, scores []float64, o BootstrapOptions) (Interval, error) {
	const fn = "BootstrapAUROC"
	o, err := o.resolve(fn)
	if err != nil {
		return Interval{}, err
	}
	if _, _, err := checkInput(fn, labels, scores, true); err != nil {
		return Interval{}, err
	}
	r := rank(labels, scores)
	est := aucFromCounts(r.pos, r.neg, r.nPos, r.nNeg)
	s := newSampler(labels, o)
	vals := make([]float64, o.Resamples)
	redrawn, err := s.run(fn, o, func() resampleFunc {
		c := newCounter(r, labels)
		return func(i int, idx []int) error {
			vals[i] = c.auc(idx)
			return nil
		}
	})
	if err != nil {
		return Interval{}, err
	}
	return percentiles(est, vals, o, redrawn), nil
}

// counter computes the AUROC of a resample from per-group counts.
type counter struct {
	key []int32 // sample index -> 2·group + label
	cnt []int32 // per key: negatives at even, positives at odd entries
}

func newCounter(r ranking, labels []bool) *counter {
	c := &counter{key: make([]int32, len(labels)), cnt: make([]int32, 2*len(r.thresholds))}
	for i, g := range r.group {
		c.key[i] = int32(2 * g)
		if labels[i] {
			c.key[i]++
		}
	}
	return c
}

// auc is aucFromCounts on the resample idx, without branches on labels.
func (c *counter) auc(idx []int) float64 {
	clear(c.cnt)
	for _, j := range idx {
		c.cnt[c.key[j]]++
	}
	var twice, above int64
	for g := 0; g < len(c.cnt); g += 2 {
		neg, pos := int64(c.cnt[g]), int64(c.cnt[g+1])
		twice += neg * (2*above + pos)
		above += pos
	}
	nNeg := int64(len(idx)) - above
	return float64(twice) / (2 * float64(above) * float64(nNeg))
}

// percentiles sorts vals in place and returns the interval.
func percentiles(est float64, vals []float64, o BootstrapOptions, redrawn int) Interval {
	slices.Sort(vals)
	a := (1 - o.Level) / 2
	return Interval{
		Estimate:  est,
		Lower:     quantile(vals, a),
		Upper:     quantile(vals, 1-a),
		Level:     o.Level,
		Resamples: len(vals),
		Redrawn:   redrawn,
	}
}

// quantile returns the q quantile of sorted x with linear interpolation
// between order statistics (Hyndman-Fan type 7, numpy's default).
func quantile(x []float64, q float64) float64 {
	h := q * float64(len(x)-1)
	lo := int(math.Floor(h))
	if lo >= len(x)-1 {
		return x[len(x)-1]
	}
	return x[lo] + (h-float64(lo))*(x[lo+1]-x[lo])
}

// sampler draws bootstrap resamples of indices.
type sampler struct {
	labels     []bool
	isPos      []int // 1 for a positive, 0 for a negative
	pos, neg   []int // indices of each class, when stratified
	stratified bool
	maxRedraws int
}

func newSampler(labels []bool, o BootstrapOptions) *sampler {
	s := &sampler{labels: labels, stratified: o.Stratified, maxRedraws: o.MaxRedraws, isPos: make([]int, len(labels))}
	for i, l := range labels {
		if l {
			s.isPos[i] = 1
		}
	}
	if s.stratified {
		for i, l := range labels {
			if l {
				s.pos = append(s.pos, i)
			} else {
				s.neg = append(s.neg, i)
			}
		}
	}
	return s
}

// draw fills idx with one resample. It reports how many one-class draws it
// discarded, and false when it gave up after maxRedraws of them.
func (s *sampler) draw(rng *rand.Rand, idx []int) (redrawn int, ok bool) {
	if s.stratified {
		for k := range s.pos {
			idx[k] = s.pos[rng.IntN(len(s.pos))]
		}
		for k := range s.neg {
			idx[len(s.pos)+k] = s.neg[rng.IntN(len(s.neg))]
		}
		return 0, true
	}
	n := len(idx)
	for {
		nPos := 0
		for k := range idx {
			j := rng.IntN(n)
			idx[k] = j
			nPos += s.isPos[j]
		}
		if nPos > 0 && nPos < n {
			return redrawn, true
		}
		if redrawn == s.maxRedraws {
			return redrawn, false
		}
		redrawn++
	}
}

// resampleFunc evaluates resample i, whose indices are idx. One is made per
// worker goroutine, so it may keep buffers.
type resampleFunc func(i int, idx []int) error

// run evaluates o.Resamples resamples on o.Workers goroutines and returns the
// total number of discarded one-class draws. On failure it returns the error
// of the lowest-numbered failing resample, which does not depend on
// scheduling: each worker stops at its first failure, and workers own fixed
// strided sets of resamples.
func (s *sampler) run(fn string, o BootstrapOptions, newFunc func() resampleFunc) (int, error) {
	type result struct {
		redrawn int
		failed  int // index of the first failing resample, or -1
		err     error
	}
	res := make([]result, o.Workers)
	var wg sync.WaitGroup
	for w := range o.Workers {
		wg.Go(func() {
			f := newFunc()
			idx := make([]int, len(s.labels))
			pcg := new(rand.PCG)
			rng := rand.New(pcg)
			r := result{failed: -1}
			for i := w; i < o.Resamples; i += o.Workers {
				pcg.Seed(splitmix(o.Seed), splitmix(o.Seed^splitmix(uint64(i))))
				n, ok := s.draw(rng, idx)
				r.redrawn += n
				if !ok {
					r.failed = i
					r.err = fmt.Errorf("metrics: %s: resample %d: %w in %d draws in a row (raise MaxRedraws or set Stratified)",
						fn, i, ErrOneClass, n+1)
					break
				}
				if err := f(i, idx); err != nil {
					r.failed = i
					r.err = fmt.Errorf("metrics: %s: resample %d: %w", fn, i, err)
					break
				}
			}
			res[w] = r
		})
	}
	wg.Wait()
	total, first := 0, -1
	for w, r := range res {
		total += r.redrawn
		if r.failed >= 0 && (first < 0 || r.failed < res[first].failed) {
			first = w
		}
	}
	if first >= 0 {
		return total, res[first].err
	}
	return total, nil
}

// splitmix is the SplitMix64 finaliser; it decorrelates the seeds of
// neighbouring resamples.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
