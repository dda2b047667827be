package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// simulate draws n units, a fraction prev positive, with binormal scores:
// negatives N(0, 1), positives N(d, 1), so the true AUROC is Φ(d/√2).
func simulate(rng *rand.Rand, n int, prev, d float64) ([]bool, []float64) {
	y := make([]bool, n)
	s := make([]float64, n)
	for i := range y {
		y[i] = rng.Float64() < prev
		s[i] = rng.NormFloat64()
		if y[i] {
			s[i] += d
		}
	}
	y[0], y[1] = true, false // both classes, always
	return y, s
}

func TestBootstrapDeterministic(t *testing.T) {
	y, s := simulate(newRand(1), 300, 0.25, 1)
	base, err := BootstrapAUROC(y, s, BootstrapOptions{Seed: 42, Resamples: 2000})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []int{1, 3, 16} {
		iv, err := BootstrapAUROC(y, s, BootstrapOptions{Seed: 42, Resamples: 2000, Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		if iv != base {
			t.Errorf("workers %d: %+v, want %+v", w, iv, base)
		}
	}
	other, err := BootstrapAUROC(y, s, BootstrapOptions{Seed: 43, Resamples: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if other.Lower == base.Lower && other.Upper == base.Upper {
		t.Errorf("seeds 42 and 43 give the same interval %+v", base)
	}
	if base.Level != 0.95 || base.Resamples != 2000 {
		t.Errorf("defaults: %+v", base)
	}
}

// The generic Bootstrap draws the same resamples as the fast path.
func TestBootstrapMatchesFastPath(t *testing.T) {
	y, s := simulate(newRand(2), 150, 0.2, 0.8)
	for i := range s {
		s[i] = math.Round(s[i]*4) / 4 // ties
	}
	for _, strat := range []bool{false, true} {
		o := BootstrapOptions{Seed: 7, Resamples: 500, Stratified: strat, Level: 0.9}
		fast, err := BootstrapAUROC(y, s, o)
		if err != nil {
			t.Fatal(err)
		}
		slow, err := Bootstrap(y, s, AUROC, o)
		if err != nil {
			t.Fatal(err)
		}
		if fast != slow {
			t.Errorf("stratified %v: BootstrapAUROC %+v, Bootstrap(AUROC) %+v", strat, fast, slow)
		}
		if !(fast.Lower <= fast.Estimate && fast.Estimate <= fast.Upper) {
			t.Errorf("interval %v does not contain its estimate", fast)
		}
	}
}

func TestBootstrapContainsEstimate(t *testing.T) {
	rng := newRand(3)
	metrics := map[string]Metric{
		"AUROC":            AUROC,
		"AveragePrecision": AveragePrecision,
		"AUPRC":            AUPRC,
		"MCC@0.5":          AtThreshold(0.5, Confusion.MCC),
	}
	for trial := range 5 {
		y, s := simulate(rng, 200, 0.3, 1.2)
		for name, m := range metrics {
			iv, err := Bootstrap(y, s, m, BootstrapOptions{Seed: uint64(trial), Resamples: 400})
			if err != nil {
				t.Fatal(err)
			}
			if !(iv.Lower < iv.Estimate && iv.Estimate < iv.Upper) {
				t.Errorf("trial %d %s: %+v does not contain its estimate", trial, name, iv)
			}
		}
	}
}

// Coverage of the 95% percentile interval of AUROC on binormal data with a
// known AUROC. The percentile bootstrap undercovers a little at this size;
// the bounds are loose on purpose (binomial SE with 400 trials is 0.011).
func TestBootstrapCoverage(t *testing.T) {
	const n, d = 200, 1.0
	trials := 400
	if testing.Short() {
		trials = 100 // the draws are seeded, so this is not flaky, only coarser
	}
	trueAUC := 0.5 * math.Erfc(-d/2) // Φ(d/√2)
	for _, strat := range []bool{false, true} {
		rng := newRand(4)
		hits := 0
		for trial := range trials {
			y, s := simulate(rng, n, 0.3, d)
			iv, err := BootstrapAUROC(y, s, BootstrapOptions{Seed: uint64(trial), Resamples: 1000, Stratified: strat})
			if err != nil {
				t.Fatal(err)
			}
			if iv.Lower <= trueAUC && trueAUC <= iv.Upper {
				hits++
			}
		}
		cov := float64(hits) / float64(trials)
		t.Logf("stratified %v: coverage %.3f", strat, cov)
		if cov < 0.89 || cov > 0.99 {
			t.Errorf("stratified %v: coverage %.3f of a 95%% interval", strat, cov)
		}
	}
}

func TestQuantile(t *testing.T) {
	x := []float64{1, 2, 3, 4}
	for _, c := range []struct{ q, want float64 }{{0, 1}, {0.25, 1.75}, {0.5, 2.5}, {0.975, 3.925}, {1, 4}} {
		if got := quantile(x, c.q); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("quantile(%v) = %v, want %v (numpy.percentile)", c.q, got, c.want)
		}
	}
	if got := quantile([]float64{5}, 0.975); got != 5 {
		t.Errorf("quantile of one value = %v", got)
	}
}

func TestPairedBootstrap(t *testing.T) {
	rng := newRand(5)
	y, a := simulate(rng, 400, 0.3, 1.5)
	b := make([]float64, len(a))
	c := make([]float64, len(a))
	for i := range a {
		b[i] = a[i] + 2*rng.NormFloat64() // a much noisier model
		c[i] = a[i] + 1e-3*rng.NormFloat64()
	}
	o := BootstrapOptions{Seed: 9, Resamples: 2000}
	p, err := PairedBootstrapAUROC(y, a, b, o)
	if err != nil {
		t.Fatal(err)
	}
	if !(p.Diff.Lower > 0) || p.P != 2.0/2001 {
		t.Errorf("clearly better model: %+v", p)
	}
	if math.Abs(p.Diff.Estimate-(p.A.Estimate-p.B.Estimate)) > 1e-15 {
		t.Errorf("Diff.Estimate %v != A−B %v", p.Diff.Estimate, p.A.Estimate-p.B.Estimate)
	}
	// Model A's interval is the one BootstrapAUROC gives with the same options.
	ia, err := BootstrapAUROC(y, a, o)
	if err != nil {
		t.Fatal(err)
	}
	if ia != p.A {
		t.Errorf("paired A %+v, BootstrapAUROC %+v", p.A, ia)
	}
	// Fast and generic paths agree.
	g, err := PairedBootstrap(y, a, b, AUROC, o)
	if err != nil {
		t.Fatal(err)
	}
	if g != p {
		t.Errorf("PairedBootstrap(AUROC) %+v, PairedBootstrapAUROC %+v", g, p)
	}
	// Nearly the same model: no evidence of a difference.
	q, err := PairedBootstrapAUROC(y, a, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if q.P < 0.05 || !(q.Diff.Lower <= 0 && 0 <= q.Diff.Upper) {
		t.Errorf("near-identical models: %+v", q)
	}
	// DeLong agrees on the direction and rough size.
	dl, err := DeLong(y, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if dl.P > 1e-3 || math.Abs(dl.Diff-p.Diff.Estimate) > 1e-12 {
		t.Errorf("DeLong %+v vs paired bootstrap %+v", dl, p)
	}
	se := (p.Diff.Upper - p.Diff.Lower) / (2 * 1.96)
	if r := math.Sqrt(dl.Var) / se; r < 0.8 || r > 1.25 {
		t.Errorf("DeLong SE %v vs bootstrap SE %v", math.Sqrt(dl.Var), se)
	}
}

func TestIntervalString(t *testing.T) {
	iv := Interval{Estimate: 0.8724, Lower: 0.8531, Upper: 0.8912}
	if got := iv.String(); got != "0.872 (0.853-0.891)" {
		t.Errorf("String() = %q", got)
	}
}

func BenchmarkBootstrapAUROC1063(b *testing.B) {
	// The paper's test set: 1,063 studies, 23.1% severe AS.
	y, s := simulate(newRand(6), 1063, 0.231, 1.5)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := BootstrapAUROC(y, s, BootstrapOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBootstrapGenericAUROC1063(b *testing.B) {
	y, s := simulate(newRand(6), 1063, 0.231, 1.5)
	for b.Loop() {
		if _, err := Bootstrap(y, s, AUROC, BootstrapOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
