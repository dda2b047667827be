package explain

import (
	"math"
	"testing"

	"github.com/vidssl/vidssl/internal/golden"
)

// loadGolden reads testdata/golden.json, written by testdata/make_golden.py
// with PyTorch 1.13 and matplotlib 3.6.
func loadGolden(t *testing.T) map[string]golden.Tensor {
	t.Helper()
	g, err := golden.Load("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// want returns the golden tensor name, failing the test if it is missing.
func want(t *testing.T, g map[string]golden.Tensor, name string) golden.Tensor {
	t.Helper()
	v, ok := g[name]
	if !ok {
		t.Fatalf("golden.json has no %q", name)
	}
	return v
}

// closeTo fails the test at the worst element where |got-want| exceeds
// atol + rtol*|want|.
func closeTo(t *testing.T, what string, got []float32, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	worst, at := 0.0, -1
	for i, w := range want {
		d := math.Abs(float64(got[i]) - w)
		if math.IsNaN(float64(got[i])) {
			d = math.Inf(1)
		}
		if excess := d - (atol + rtol*math.Abs(w)); excess > 0 && (at < 0 || excess > worst) {
			worst, at = excess, i
		}
	}
	if at >= 0 {
		t.Errorf("%s[%d] = %v, want %v (tolerance %g + %g*|want|)", what, at, got[at], want[at], atol, rtol)
	}
}

func shape5(t *testing.T, s []int) [5]int {
	t.Helper()
	if len(s) != 5 {
		t.Fatalf("shape %v is not 5-D", s)
	}
	return [5]int{s[0], s[1], s[2], s[3], s[4]}
}

func size3(t *testing.T, v golden.Tensor) [3]int {
	t.Helper()
	if len(v.Data) != 3 {
		t.Fatalf("size %v is not 3 values", v.Data)
	}
	return [3]int{int(v.Data[0]), int(v.Data[1]), int(v.Data[2])}
}

// TestGolden checks every step against PyTorch on random activations and
// gradients (a-e) and on the layer of a small Conv3d/BatchNorm3d network in
// eval mode whose activations and gradients came from torch hooks (tiny).
func TestGolden(t *testing.T) {
	g := loadGolden(t)
	for _, c := range []string{"a", "b", "c", "d", "e", "tiny"} {
		t.Run(c, func(t *testing.T) {
			acts, grads := want(t, g, c+".acts"), want(t, g, c+".grads")
			shape := shape5(t, acts.Shape)
			size := size3(t, want(t, g, c+".size"))

			cam, cs, err := GradCAM(acts.Float32(), grads.Float32(), shape)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "cam", cam, want(t, g, c+".cam").Data, 1e-6, 1e-5)

			heat, hs, err := Saliency(acts.Float32(), grads.Float32(), shape, size)
			if err != nil {
				t.Fatal(err)
			}
			if hs != [3]int{shape[0], size[1], size[2]} {
				t.Errorf("Saliency shape %v, want %v", hs, [3]int{shape[0], size[1], size[2]})
			}
			closeTo(t, "heat", heat, want(t, g, c+".heat").Data, 1e-4, 0)

			up, ok := g[c+".up"]
			if !ok {
				return
			}
			// From torch's own cam, so that Upsample alone is tested.
			gotUp, us, err := Upsample(want(t, g, c+".cam").Float32(), cs, size)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "up", gotUp, up.Data, 1e-6, 1e-5)
			norm, err := Normalize(up.Float32(), us[0])
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "norm", norm, want(t, g, c+".norm").Data, 1e-5, 0)
			tmax, _, err := TemporalMax(want(t, g, c+".norm").Float32(), us)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, "temporal max", tmax, want(t, g, c+".heat").Data, 0, 0)
		})
	}
}

// TestGoldenColormaps compares the colour maps with matplotlib's tables.
func TestGoldenColormaps(t *testing.T) {
	g := loadGolden(t)
	for _, tc := range []struct {
		cmap Colormap
		tol  float64
	}{
		{Jet, 1e-9}, // exact: same breakpoints
		{Inferno, 1.0 / 255},
		{Viridis, 1.0 / 255},
	} {
		ref := want(t, g, "cmap."+tc.cmap.Name())
		got := make([]float32, 0, len(ref.Data))
		for i := range 256 {
			r, gg, b := tc.cmap.rgb(float64(i) / 255)
			got = append(got, float32(r), float32(gg), float32(b))
		}
		// float32 storage costs ~1e-7.
		closeTo(t, tc.cmap.Name(), got, ref.Data, tc.tol+1e-6, 0)
	}
}
