package explain

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/internal/golden"
	"github.com/vidssl/vidssl/resnet3d"
)

// TestResNetCAMMatchesPyTorch compares Grad-CAM of layer4 of the committed
// small torchvision VideoResNet (resnet3d/testdata/small.pth), in evaluation
// mode, with testdata/make_model_golden.py's PyTorch computation.
func TestResNetCAMMatchesPyTorch(t *testing.T) {
	m, x := camMatchesGolden(t, resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 3},
		"../resnet3d/testdata/small.pth", "testdata/model.json", 4)
	if _, err := ResNetCAM(context.Background(), m, x.Float32(), [5]int(x.Shape), 5, 1); err == nil {
		t.Error("stage 5 gave no error")
	}
	if _, err := ResNetCAM(context.Background(), m, x.Float32(), [5]int(x.Shape), 4, 3); err == nil {
		t.Error("class 3 of 3 gave no error")
	}
	if _, err := ResNetCAM(context.Background(), m, x.Float32()[1:], [5]int(x.Shape), 4, 0); err == nil {
		t.Error("short clip data gave no error")
	}
}

// TestResNetCAMOneClip runs Grad-CAM on one clip (N = 1), with one and two
// classes, and checks that it gives the same logits and maps as the same clip
// in a batch of two (batch items are independent in evaluation mode). N = 1
// used to panic inside gorgonia's machine.
func TestResNetCAMOneClip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shape := [5]int{2, 3, 8, 32, 32}
	x := make([]float32, shape[0]*shape[1]*shape[2]*shape[3]*shape[4])
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	nonzero := 0 // maps that are not all zero, so that the comparison means something
	for _, k := range []int{1, 2} {
		m, err := resnet3d.New(resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}, NumClasses: k}, rand.New(rand.NewPCG(1, uint64(k))))
		if err != nil {
			t.Fatal(err)
		}
		// The trained backbone gives maps that are not all zero.
		if _, err := m.LoadWeights("../resnet3d/testdata/small.pth", resnet3d.LoadOptions{Skip: []string{"fc.weight", "fc.bias"}}); err != nil {
			t.Fatal(err)
		}
		for class := range k {
			two, err := ResNetCAM(context.Background(), m, x, shape, 4, class)
			if err != nil {
				t.Fatalf("%d classes, N=2: %v", k, err)
			}
			one1 := shape
			one1[0] = 1
			one, err := ResNetCAM(context.Background(), m, x[:len(x)/2], one1, 4, class)
			if err != nil {
				t.Fatalf("%d classes, class %d, N=1: %v", k, class, err)
			}
			if one.Shape != [4]int{1, 8, 32, 32} {
				t.Errorf("%d classes, N=1: shape %v", k, one.Shape)
			}
			for _, c := range []struct {
				name     string
				got, all []float32
			}{{"logits", one.Logits, two.Logits}, {"volumes", one.Volumes, two.Volumes}, {"heatmaps", one.Heatmaps, two.Heatmaps}} {
				want := c.all[:len(c.all)/2]
				if len(c.got) != len(want) {
					t.Fatalf("%d classes, N=1: %d %s, want %d", k, len(c.got), c.name, len(want))
				}
				var worst, max float64
				for i := range want {
					worst = math.Max(worst, math.Abs(float64(c.got[i]-want[i])))
					max = math.Max(max, math.Abs(float64(want[i])))
				}
				if worst > 1e-5 {
					t.Errorf("%d classes, class %d, N=1: %s differ from the batch's first clip by %.3g", k, class, c.name, worst)
				}
				if c.name == "volumes" && max > 0 {
					nonzero++
				}
			}
		}
	}
	if nonzero < 2 {
		t.Errorf("only %d of 3 maps are not all zero; the test cannot tell much", nonzero)
	}
}

// TestResNetCAMBadArguments checks that bad arguments are errors, never
// panics.
func TestResNetCAMBadArguments(t *testing.T) {
	m, err := resnet3d.New(resnet3d.Config{InChannels: 3, Width: 2, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 1}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	feat, err := resnet3d.New(resnet3d.Config{InChannels: 3, Width: 2, Blocks: [4]int{1, 1, 1, 1}}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	good := [5]int{1, 3, 2, 8, 8}
	data := make([]float32, 3*2*8*8)
	for _, c := range []struct {
		name         string
		m            *resnet3d.Model
		shape        [5]int
		clips        []float32
		stage, class int
	}{
		{"nil model", nil, good, data, 4, 0},
		{"negative N", m, [5]int{-1, 3, 2, 8, 8}, data, 4, 0},
		{"negative H", m, [5]int{1, 3, 2, -8, 8}, data, 4, 0},
		{"zero T", m, [5]int{1, 3, 0, 8, 8}, nil, 4, 0},
		{"zero clips", m, [5]int{0, 3, 2, 8, 8}, nil, 4, 0},
		{"wrong channels", m, [5]int{1, 1, 2, 8, 8}, data[:2*8*8], 4, 0},
		{"short data", m, good, data[1:], 4, 0},
		{"stage 0", m, good, data, 0, 0},
		{"negative class", m, good, data, 4, -1},
		{"class 1 of 1", m, good, data, 4, 1},
		{"no classes", feat, good, data, 4, 0},
	} {
		if _, err := ResNetCAM(context.Background(), c.m, c.clips, c.shape, c.stage, c.class); err == nil {
			t.Errorf("%s: no error", c.name)
		} else if !strings.HasPrefix(err.Error(), "explain: ResNetCAM: ") {
			t.Errorf("%s: error %q does not name the place", c.name, err)
		}
	}
}

// TestResNetCAMR2Plus1DMatchesPyTorch is TestResNetCAMMatchesPyTorch for an
// R(2+1)D at layer3: torchvision's VideoResNet with R2Plus1dStem and
// Conv2Plus1D at width 8 (resnet3d/testdata/r2plus1d18_small.pth).
func TestResNetCAMR2Plus1DMatchesPyTorch(t *testing.T) {
	cfg := resnet3d.R2Plus1D18(3)
	cfg.Width = 8
	camMatchesGolden(t, cfg, "../resnet3d/testdata/r2plus1d18_small.pth", "testdata/model_r2plus1d.json", 3)
}

// camMatchesGolden builds cfg with the weights of pth, runs ResNetCAM for
// class 1 at stage on the golden file's input and checks the logits,
// volumes and heatmaps against PyTorch's to 1e-4. It returns the model and
// the input for further checks.
func camMatchesGolden(t *testing.T, cfg resnet3d.Config, pth, goldenPath string, stage int) (*resnet3d.Model, golden.Tensor) {
	t.Helper()
	m, err := resnet3d.New(cfg, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.LoadWeights(pth, resnet3d.LoadOptions{Strict: true}); err != nil {
		t.Fatal(err)
	}
	gold, err := golden.Load(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	x := gold["x"]
	cam, err := ResNetCAM(context.Background(), m, x.Float32(), [5]int(x.Shape), stage, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []float32
	}{{"logits", cam.Logits}, {"volumes", cam.Volumes}, {"heatmaps", cam.Heatmaps}} {
		want := gold[c.name].Data
		if len(want) != len(c.got) {
			t.Fatalf("%s: %d values, want %d", c.name, len(c.got), len(want))
		}
		var worst float64
		for i := range want {
			worst = math.Max(worst, math.Abs(float64(c.got[i])-want[i]))
		}
		if worst > 1e-4 {
			t.Errorf("%s: max difference %.3g from PyTorch > 1e-4", c.name, worst)
		}
	}
	return m, x
}
