// Package tensorcmp compares float32 tensors as the tests of the packages
// that run a model on two engines do (gpu's trainers against the CPU
// graph, pretrain's device step against its CPU step): per tensor, in
// relative L2 norm.
package tensorcmp

import (
	"math"
	"testing"
)

// RelL2 returns ||got - want|| / ||want||, or ||got - want|| when want is
// zero.
func RelL2(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		e := float64(got[i]) - float64(want[i])
		num += e * e
		den += float64(want[i]) * float64(want[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// Worst checks tensors against a tolerance and tracks the largest
// relative error, for the log.
type Worst struct {
	Err  float64 // the largest RelL2 checked
	Name string  // the tensor it was of
}

// Check reports an error unless got and want have the same length and
// RelL2(got, want) <= tol; it logs an error above a tenth of tol.
func (w *Worst) Check(t testing.TB, kind, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s %s: %d values, want %d", kind, name, len(got), len(want))
		return
	}
	e := RelL2(got, want)
	if !(e <= tol) {
		t.Errorf("%s %s: relative L2 error %.3g, tolerance %g (got %v, want %v)", kind, name, e, tol, got[:min(8, len(got))], want[:min(8, len(want))])
	} else if e > tol/10 {
		t.Logf("%s %s: relative L2 error %.3g, within a tenth of the tolerance %g", kind, name, e, tol)
	}
	if !(e <= w.Err) {
		w.Err, w.Name = e, name
	}
}

// Approx reports an error unless got and want have the same length and
// every value of got is within a relative 1e-4 of want's, or within 1e-5
// times want's largest magnitude (at least 1e-3) of it, for values that
// cancel to near zero: the tolerance of nn's convolution tests.
func Approx(t testing.TB, what string, want, got []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	var scale float64
	for _, v := range want {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	abs := 1e-5 * math.Max(scale, 1e-3)
	bad, first := 0, -1
	for i := range want {
		w, g := float64(want[i]), float64(got[i])
		if w == g || math.Abs(w-g) <= math.Max(abs, 1e-4*math.Min(math.Abs(w), math.Abs(g))) {
			continue
		}
		bad++
		if first < 0 {
			first = i
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ; first at %d: got %g, want %g", what, bad, len(want), first, got[first], want[first])
	}
}
