package tensorcmp

import (
	"math"
	"testing"
)

// TestRelL2 and Worst's tracking of the largest error.
func TestRelL2(t *testing.T) {
	if e := RelL2([]float32{3, 4}, []float32{0, 0}); e != 5 {
		t.Errorf("against zero: %v, want 5", e)
	}
	if e := RelL2([]float32{1, 1}, []float32{1, 2}); math.Abs(e-1/math.Sqrt(5)) > 1e-12 {
		t.Errorf("RelL2 = %v, want 1/sqrt(5)", e)
	}
	var w Worst
	w.Check(t, "a", "x", []float32{1, 2}, []float32{1, 2}, 0)
	w.Check(t, "a", "y", []float32{1, 2.0001}, []float32{1, 2}, 1e-3)
	if w.Name != "y" || !(w.Err > 0) {
		t.Errorf("worst %+v, want y's", w)
	}
}
