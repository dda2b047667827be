package explain

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func randn(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func TestSaliencyRange(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shape := [5]int{1 + r.IntN(3), 1 + r.IntN(6), 1 + r.IntN(4), 1 + r.IntN(6), 1 + r.IntN(6)}
		size := [3]int{1 + r.IntN(9), 1 + r.IntN(20), 1 + r.IntN(20)}
		n := shape[0] * shape[1] * shape[2] * shape[3] * shape[4]
		acts, grads := randn(r, n), randn(r, n)
		cam, _, err := GradCAM(acts, grads, shape)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range cam {
			if !(v >= 0) {
				t.Fatalf("shape %v: cam[%d] = %v, want >= 0", shape, i, v)
			}
		}
		heat, hs, err := Saliency(acts, grads, shape, size)
		if err != nil {
			t.Fatal(err)
		}
		if len(heat) != hs[0]*hs[1]*hs[2] || hs != [3]int{shape[0], size[1], size[2]} {
			t.Fatalf("shape %v size %v: heat has %d values, shape %v", shape, size, len(heat), hs)
		}
		per := size[1] * size[2]
		for b := range shape[0] {
			item := heat[b*per : (b+1)*per]
			for i, v := range item {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("shape %v: heat[%d][%d] = %v, want in [0, 1]", shape, b, i, v)
				}
			}
			if m := slices.Max(item); m != 1 && m != 0 {
				t.Errorf("shape %v: item %d has maximum %v, want 1 (or 0 for a constant map)", shape, b, m)
			}
		}
	}
}

// TestPlantedBlob checks that the place of a strong activation in a channel
// with positive gradient is where the upsampled, projected map peaks.
func TestPlantedBlob(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const C, tt, h, w = 4, 3, 5, 7
	size := [3]int{12, 20, 21} // factors 4, 4, 3
	for _, at := range [][3]int{{1, 2, 3}, {0, 0, 0}, {2, 4, 6}, {0, 4, 0}} {
		acts := make([]float32, C*tt*h*w)
		for i := range acts {
			acts[i] = 0.1 * float32(r.Float64())
		}
		grads := make([]float32, len(acts))
		for i := range grads {
			grads[i] = 0.01 * float32(r.NormFloat64())
		}
		// Channel 2: positive gradient everywhere, a peak at `at`.
		vol := tt * h * w
		for i := 2 * vol; i < 3*vol; i++ {
			grads[i] = 1
		}
		acts[2*vol+(at[0]*h+at[1])*w+at[2]] = 10
		heat, hs, err := Saliency(acts, grads, [5]int{1, C, tt, h, w}, size)
		if err != nil {
			t.Fatal(err)
		}
		best := 0
		for i, v := range heat {
			if v > heat[best] {
				best = i
			}
		}
		y, x := best/hs[2], best%hs[2]
		if y*h/size[1] != at[1] || x*w/size[2] != at[2] {
			t.Errorf("blob at (h, w) = (%d, %d): heat peaks at pixel (%d, %d), in cell (%d, %d)",
				at[1], at[2], y, x, y*h/size[1], x*w/size[2])
		}
		if heat[best] != 1 {
			t.Errorf("blob at %v: peak %v, want 1", at, heat[best])
		}
	}
}

func TestGradCAMByHand(t *testing.T) {
	// N=1, C=2, t=1, h=1, w=2. Weights: mean grads = (1, -2).
	acts := []float32{1, 3, 1, 1}
	grads := []float32{0, 2, -2, -2}
	cam, s, err := GradCAM(acts, grads, [5]int{1, 2, 1, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	// 1*1 - 2*1 = -1 -> 0; 1*3 - 2*1 = 1.
	if want := []float32{0, 1}; !slices.Equal(cam, want) || s != [4]int{1, 1, 1, 2} {
		t.Errorf("GradCAM = %v %v, want %v [1 1 1 2]", cam, s, want)
	}
}

func TestUpsample(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	m := randn(r, 2*3*4*5)
	shape := [4]int{2, 3, 4, 5}
	same, _, err := Upsample(m, shape, [3]int{3, 4, 5})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(same, m) {
		t.Error("Upsample to the same size changed the map")
	}

	// A ramp along w stays a ramp between the outer half-cells: with
	// align_corners=False, output x samples input (x+0.5)/2-0.5.
	ramp := []float32{0, 1, 2, 3}
	up, _, err := Upsample(ramp, [4]int{1, 1, 1, 4}, [3]int{1, 1, 8})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3}
	if !slices.Equal(up, want) {
		t.Errorf("Upsample(ramp) = %v, want %v", up, want)
	}

	c := make([]float32, 2*3*3)
	for i := range c {
		c[i] = 0.5
	}
	up, _, err = Upsample(c, [4]int{2, 1, 3, 3}, [3]int{4, 7, 2})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range up {
		if math.Abs(float64(v)-0.5) > 1e-7 {
			t.Fatalf("Upsample(constant)[%d] = %v, want 0.5", i, v)
		}
	}
}

func TestNormalize(t *testing.T) {
	m := []float32{1, 3, 2, 5, 5, 5}
	orig := slices.Clone(m)
	got, err := Normalize(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{0, 1, 0.5, 0, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("Normalize = %v, want %v", got, want)
	}
	if !slices.Equal(m, orig) {
		t.Error("Normalize modified its input")
	}
}

func TestTemporalMax(t *testing.T) {
	// N=1, T=3, H=1, W=2.
	got, s, err := TemporalMax([]float32{1, 5, 4, 2, 3, 3}, [4]int{1, 3, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{4, 5}; !slices.Equal(got, want) || s != [3]int{1, 1, 2} {
		t.Errorf("TemporalMax = %v %v, want %v [1 1 2]", got, s, want)
	}
}

func TestErrors(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	ok := make([]float32, 8)
	withAt := func(v float32, i int) []float32 {
		x := make([]float32, 8)
		x[i] = v
		return x
	}
	s := [5]int{1, 2, 1, 2, 2}
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"short acts", func() error { _, _, err := GradCAM(ok[:7], ok, s); return err }, "acts has 7 values"},
		{"short grads", func() error { _, _, err := GradCAM(ok, ok[:7], s); return err }, "grads has 7 values"},
		{"zero dim", func() error { _, _, err := GradCAM(nil, nil, [5]int{1, 2, 0, 2, 2}); return err }, "dimension 2 is 0"},
		{"negative dim", func() error { _, _, err := GradCAM(ok, ok, [5]int{-1, -2, 1, 2, 2}); return err }, "dimension 0 is -1"},
		{"huge", func() error {
			_, _, err := GradCAM(ok, ok, [5]int{1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20})
			return err
		}, "more than"},
		{"NaN acts", func() error { _, _, err := GradCAM(withAt(nan, 3), ok, s); return err }, "acts[3] is NaN"},
		{"NaN grads", func() error { _, _, err := GradCAM(ok, withAt(nan, 5), s); return err }, "grads[5] is NaN"},
		{"Inf acts", func() error { _, _, err := GradCAM(withAt(inf, 1), ok, s); return err }, "acts[1] is +Inf"},
		{"Saliency NaN", func() error { _, _, err := Saliency(ok, withAt(nan, 0), s, [3]int{2, 2, 2}); return err }, "GradCAM: grads[0] is NaN"},
		{"Saliency size", func() error { _, _, err := Saliency(ok, ok, s, [3]int{2, 0, 2}); return err }, "output size"},
		{"Upsample length", func() error { _, _, err := Upsample(ok, [4]int{1, 1, 3, 3}, [3]int{2, 2, 2}); return err }, "map has 8 values"},
		{"Upsample NaN", func() error { _, _, err := Upsample(withAt(nan, 2), [4]int{1, 2, 2, 2}, [3]int{2, 2, 2}); return err }, "map[2] is NaN"},
		{"Normalize n", func() error { _, err := Normalize(ok, 0); return err }, "0 items"},
		{"Normalize split", func() error { _, err := Normalize(ok, 3); return err }, "do not split"},
		{"Normalize empty", func() error { _, err := Normalize(nil, 1); return err }, "do not split"},
		{"Normalize NaN", func() error { _, err := Normalize(withAt(nan, 7), 2); return err }, "map[7] is NaN"},
		{"TemporalMax length", func() error { _, _, err := TemporalMax(ok, [4]int{1, 3, 1, 2}); return err }, "map has 8 values"},
		{"TemporalMax NaN", func() error { _, _, err := TemporalMax(withAt(nan, 4), [4]int{1, 2, 2, 2}); return err }, "map[4] is NaN"},
	} {
		err := tc.err()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "explain: ") {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
