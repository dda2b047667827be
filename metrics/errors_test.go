package metrics

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDegenerateInputErrors(t *testing.T) {
	y := []bool{false, true, false, true}
	s := []float64{0.1, 0.9, 0.4, 0.6}
	oneClass := []bool{false, false, false}
	nan := []float64{0.1, math.NaN(), 0.4, 0.6}
	inf := []float64{0.1, 0.2, math.Inf(-1), 0.6}

	funcs := map[string]func([]bool, []float64) error{
		"AUROC":            func(l []bool, x []float64) error { _, err := AUROC(l, x); return err },
		"AUPRC":            func(l []bool, x []float64) error { _, err := AUPRC(l, x); return err },
		"AveragePrecision": func(l []bool, x []float64) error { _, err := AveragePrecision(l, x); return err },
		"ROC":              func(l []bool, x []float64) error { _, err := ROC(l, x); return err },
		"PR":               func(l []bool, x []float64) error { _, err := PR(l, x); return err },
		"BestFBeta":        func(l []bool, x []float64) error { _, err := BestF1(l, x); return err },
		"BootstrapAUROC": func(l []bool, x []float64) error {
			_, err := BootstrapAUROC(l, x, BootstrapOptions{Resamples: 10})
			return err
		},
		"Bootstrap": func(l []bool, x []float64) error {
			_, err := Bootstrap(l, x, AUROC, BootstrapOptions{Resamples: 10})
			return err
		},
		"DeLong": func(l []bool, x []float64) error { _, err := DeLong(l, x, x); return err },
		"PairedBootstrapAUROC": func(l []bool, x []float64) error {
			_, err := PairedBootstrapAUROC(l, x, x, BootstrapOptions{Resamples: 10})
			return err
		},
	}
	cases := []struct {
		name   string
		labels []bool
		scores []float64
		is     error
		msg    string
	}{
		{"empty", nil, nil, ErrEmpty, "empty input"},
		{"length", y, s[:3], ErrLength, "4 labels, 3 scores"},
		{"nan", y, nan, ErrNotFinite, "score 1 is NaN"},
		{"inf", y, inf, ErrNotFinite, "score 2 is -Inf"},
		{"oneclass", oneClass, s[:3], ErrOneClass, "only one class (3 negatives, 0 positives)"},
	}
	for name, f := range funcs {
		for _, c := range cases {
			err := f(c.labels, c.scores)
			if !errors.Is(err, c.is) {
				t.Errorf("%s(%s): error %v, want %v", name, c.name, err, c.is)
				continue
			}
			if !strings.HasPrefix(err.Error(), "metrics: "+name+": ") || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%s(%s): error %q, want prefix %q and %q", name, c.name, err, "metrics: "+name+": ", c.msg)
			}
		}
	}
}

func TestAUROCOneClassMessage(t *testing.T) {
	y := make([]bool, 12)
	s := make([]float64, 12)
	v, err := AUROC(y, s)
	const want = "metrics: AUROC: only one class (12 negatives, 0 positives)"
	if err == nil || err.Error() != want {
		t.Fatalf("AUROC = %v, %v; want error %q", v, err, want)
	}
	if !math.IsNaN(v) {
		t.Errorf("AUROC value with error = %v, want NaN", v)
	}
}

func TestOtherErrors(t *testing.T) {
	y := []bool{false, true, false, true}
	s := []float64{0.1, 0.9, 0.4, 0.6}
	if _, err := BestFBeta(y, s, 0); err == nil {
		t.Error("BestFBeta(beta 0): no error")
	}
	if _, err := BestFBeta(y, s, math.NaN()); err == nil {
		t.Error("BestFBeta(beta NaN): no error")
	}
	if _, err := ConfusionAt(y, s, math.NaN()); err == nil {
		t.Error("ConfusionAt(NaN threshold): no error")
	}
	if _, err := LabelsFromInts([]int{0, 1, 2}); err == nil || !strings.Contains(err.Error(), "label 2 is 2") {
		t.Errorf("LabelsFromInts: error %v", err)
	}
	for _, o := range []BootstrapOptions{{Level: 1}, {Level: -0.5}, {Level: math.NaN()}, {Resamples: -1}, {MaxRedraws: -1}} {
		if _, err := BootstrapAUROC(y, s, o); err == nil {
			t.Errorf("BootstrapAUROC(%+v): no error", o)
		}
	}
	if _, err := Bootstrap(y, s, nil, BootstrapOptions{}); err == nil {
		t.Error("Bootstrap(nil metric): no error")
	}
	if _, err := DeLong(y, s, s[:3]); !errors.Is(err, ErrLength) {
		t.Errorf("DeLong(mismatched models): error %v", err)
	}
	if _, err := DeLong(y, s, []float64{0, 0, math.NaN(), 0}); !errors.Is(err, ErrNotFinite) || !strings.Contains(err.Error(), "model B") {
		t.Errorf("DeLong(NaN in model B): error %v", err)
	}
	if _, err := DeLong(y, s, s); err == nil || !strings.Contains(err.Error(), "variance") {
		t.Errorf("DeLong(identical models): error %v", err)
	}
	if _, err := DeLong([]bool{true, false, false}, s[:3], s[:3]); err == nil {
		t.Error("DeLong(one positive): no error")
	}
}

// A metric that fails on some resamples makes Bootstrap fail, naming the
// same (lowest) resample whatever the number of workers.
func TestBootstrapMetricError(t *testing.T) {
	y, s := simulate(newRand(1), 100, 0.3, 1)
	bad := func(l []bool, x []float64) (float64, error) {
		if l[0] && x[0] > 0.9 && x[0] != s[0] { // fails on some resamples, not the input
			return 0, errors.New("boom")
		}
		return 0.5, nil
	}
	var msgs []string
	for _, w := range []int{1, 2, 7} {
		_, err := Bootstrap(y, s, bad, BootstrapOptions{Resamples: 500, Workers: w, Seed: 3})
		if err == nil {
			t.Fatal("no error")
		}
		msgs = append(msgs, err.Error())
	}
	if msgs[0] != msgs[1] || msgs[0] != msgs[2] || !strings.Contains(msgs[0], "metrics: Bootstrap: resample ") || !strings.HasSuffix(msgs[0], "boom") {
		t.Errorf("errors differ or are badly formed: %q", msgs)
	}
	nanMetric := func([]bool, []float64) (float64, error) { return math.NaN(), nil }
	if _, err := Bootstrap(y, s, nanMetric, BootstrapOptions{Resamples: 5}); err == nil {
		t.Error("Bootstrap with a NaN metric: no error")
	}
}

// With a single positive among many units, most unstratified resamples have
// no positive: a low MaxRedraws fails, stratification never needs redraws.
func TestBootstrapOneClassRule(t *testing.T) {
	n := 200
	y := make([]bool, n)
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(i)
	}
	y[n-1] = true
	_, err := BootstrapAUROC(y, s, BootstrapOptions{Resamples: 200, MaxRedraws: 1})
	if !errors.Is(err, ErrOneClass) || !strings.Contains(err.Error(), "MaxRedraws") {
		t.Errorf("MaxRedraws 1: error %v", err)
	}
	iv, err := BootstrapAUROC(y, s, BootstrapOptions{Resamples: 200})
	if err != nil {
		t.Fatal(err)
	}
	// P(no positive in 200 draws) = (199/200)^200 ≈ 0.37, so about 0.37/0.63
	// redraws per resample.
	if iv.Redrawn < 60 || iv.Redrawn > 200 {
		t.Errorf("Redrawn = %d, want about 117", iv.Redrawn)
	}
	iv, err = BootstrapAUROC(y, s, BootstrapOptions{Resamples: 200, Stratified: true})
	if err != nil || iv.Redrawn != 0 || iv.Lower != 1 || iv.Upper != 1 {
		t.Errorf("stratified: %+v, %v", iv, err)
	}
}
