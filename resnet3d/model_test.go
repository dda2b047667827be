package resnet3d

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/golden"
	"github.com/vidssl/vidssl/nn"
)

// smallConfig is the torchvision VideoResNet of testdata/make_golden.py.
var smallConfig = Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 3}

func TestR3D18Structure(t *testing.T) {
	m, err := New(R3D18(400), rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	names := map[string][]int{}
	for _, p := range m.Params() {
		names[p.Name] = p.Shape()
		if !p.Buffer {
			n += len(p.Data())
		}
	}
	if n != 33371472 {
		t.Errorf("R3D-18 has %d learnable values, torchvision's r3d_18 has 33371472", n)
	}
	for name, shape := range map[string][]int{
		"stem.0.weight":                        {64, 3, 3, 7, 7},
		"stem.1.running_var":                   {64},
		"layer1.0.conv1.0.weight":              {64, 64, 3, 3, 3},
		"layer2.0.downsample.0.weight":         {128, 64, 1, 1, 1},
		"layer4.1.conv2.1.running_mean":        {512},
		"layer3.1.conv2.1.num_batches_tracked": {1},
		"fc.weight":                            {400, 512},
		"fc.bias":                              {400},
	} {
		if got, ok := names[name]; !ok || !equalInts(got, shape) {
			t.Errorf("%s: shape %v, want %v", name, got, shape)
		}
	}
	if _, ok := names["layer1.0.downsample.0.weight"]; ok {
		t.Error("layer1.0 has a downsample; torchvision's has none")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBadConfig(t *testing.T) {
	ok := Config{InChannels: 3, Width: 8, Blocks: [4]int{1, 1, 1, 1}}
	stem, block, conv := ok, ok, ok
	stem.Stem = 2
	block.Block = -1
	conv.Convs[3] = 3
	for _, cfg := range []Config{{}, {InChannels: 3, Width: 8}, {InChannels: 3, Width: 8, Blocks: [4]int{1, 1, 1, 1}, NumClasses: -1}, stem, block, conv} {
		if _, err := New(cfg, rand.New(rand.NewPCG(1, 1))); err == nil {
			t.Errorf("New(%+v) gave no error", cfg)
		}
	}
	_, err := New(conv, rand.New(rand.NewPCG(1, 1)))
	if want := "resnet3d: bad config: stage 4 has unknown conv maker ConvMaker(3)"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// checkGolden loads weights into a model built from cfg and compares its
// eval logits and training loss (1e-4) and gradients (1e-3, or the
// golden's "gradtol." entry where float32 cannot reach 1e-3) with the
// golden JSON of the same stem, which must hold the gradients named in need.
func checkGolden(t *testing.T, cfg Config, weights, goldenPath string, need ...string) {
	t.Helper()
	m, err := New(cfg, rand.New(rand.NewPCG(7, 7)))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := m.LoadWeights(weights, LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("load report: %v", rep)
	}
	gold, err := golden.Load(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string) *tensor.Dense {
		g := gold[name]
		return tensor.New(tensor.WithShape(g.Shape...), tensor.WithBacking(g.Float32()))
	}

	// Evaluation mode: logits.
	g := nn.NewGraph(false, nil)
	x := G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(gold["x_eval"].Shape...), G.WithValue(value("x_eval")), G.WithName("x"))
	logits, err := m.Forward(g, x)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g.Exp)
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	vm.Close()
	compare(t, "eval logits", logits.Value().Data().([]float32), gold["logits_eval"].Data, 1e-4)

	// Training mode: one forward/backward of BCEWithLogits.
	g = nn.NewGraph(true, rand.New(rand.NewPCG(1, 1)))
	x = G.NewTensor(g.Exp, tensor.Float32, 5, G.WithShape(gold["x_train"].Shape...), G.WithValue(value("x_train")), G.WithName("x"))
	y := G.NewTensor(g.Exp, tensor.Float32, 2, G.WithShape(gold["target"].Shape...), G.WithValue(value("target")), G.WithName("y"))
	if logits, err = m.Forward(g, x); err != nil {
		t.Fatal(err)
	}
	loss, err := nn.BCEWithLogits(logits, y, 1)
	if err != nil {
		t.Fatal(err)
	}
	params, nodes := g.Learnables()
	grads, err := G.Grad(loss, nodes...)
	if err != nil {
		t.Fatal(err)
	}
	vm = G.NewTapeMachine(g.Exp)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	l, _ := nn.ScalarValue(loss.Value())
	compare(t, "training loss", []float32{l}, gold["loss_train"].Data, 1e-4)
	var checked int
	var loose []string
	for i, p := range params {
		if want, ok := gold["grad."+p.Name]; ok {
			tol := 1e-3
			if g, ok := gold["gradtol."+p.Name]; ok && len(g.Data) == 1 && g.Data[0] > tol {
				// The golden's float64 gradient is one that float32 cannot
				// reproduce to 1e-3: allow twice PyTorch's float32 error.
				tol = g.Data[0]
				loose = append(loose, fmt.Sprintf("%s (%.2g)", p.Name, tol))
			}
			compare(t, "gradient of "+p.Name, grads[i].Value().Data().([]float32), want.Data, tol)
			checked++
		}
	}
	t.Logf("compared the gradients of %d of %d parameters", checked, len(params))
	if len(loose) > 0 {
		t.Logf("tolerance above 1e-3 where PyTorch's float32 misses its float64 result: %s", strings.Join(loose, ", "))
	}
	for _, name := range need {
		if _, ok := gold["grad."+name]; !ok {
			t.Errorf("golden lacks the gradient of %s", name)
		}
	}
}

// compare checks got against want with a relative error, measured against
// the largest |want|, of at most tol.
func compare(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	var scale, worst float64
	for i := range want {
		scale = math.Max(scale, math.Abs(want[i]))
		worst = math.Max(worst, math.Abs(float64(got[i])-want[i]))
	}
	if scale == 0 {
		scale = 1
	}
	if worst/scale > tol {
		t.Errorf("%s: relative error %.3g > %g", what, worst/scale, tol)
	}
}

func TestSmallVideoResNetMatchesTorchvision(t *testing.T) {
	checkGolden(t, smallConfig, "testdata/small.pth", "testdata/small.json", "stem.0.weight", "layer4.0.conv2.0.weight", "fc.weight")
}

// TestR3D18MatchesTorchvision needs the full r3d_18 files, which are too big
// to commit: .ci/run makes them with testdata/make_golden.py --full DIR and
// sets VIDSSL_R3D18_DIR=DIR.
func TestR3D18MatchesTorchvision(t *testing.T) {
	dir := os.Getenv("VIDSSL_R3D18_DIR")
	if dir == "" {
		t.Skip("VIDSSL_R3D18_DIR not set; make the files with /usr/bin/python3 resnet3d/testdata/make_golden.py --full DIR")
	}
	checkGolden(t, R3D18(400), filepath.Join(dir, "r3d18.pth"), filepath.Join(dir, "r3d18.json"), "stem.0.weight", "layer4.1.conv2.0.weight", "fc.weight")
}

func TestLoadReportsBadNames(t *testing.T) {
	m, err := New(Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 5}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.LoadWeights("testdata/small.pth", LoadOptions{Strict: true})
	if err == nil || !strings.Contains(err.Error(), "fc.weight") || !strings.Contains(err.Error(), "fc.bias") {
		t.Fatalf("strict load with 5 classes against a 3-class file: error %v, want one naming fc.weight and fc.bias", err)
	}
	rep, err := m.LoadWeights("testdata/small.pth", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Mismatched) != 2 || len(rep.Missing) != 0 {
		t.Errorf("non-strict report %v: want fc.weight and fc.bias mismatched only", rep)
	}
	// A deeper model misses the second blocks.
	deep, _ := New(Config{InChannels: 3, Width: 4, Blocks: [4]int{2, 1, 1, 1}, NumClasses: 3}, rand.New(rand.NewPCG(1, 1)))
	_, err = deep.LoadWeights("testdata/small.pth", LoadOptions{Strict: true})
	if err == nil || !strings.Contains(err.Error(), "layer1.1.conv1.0.weight") {
		t.Errorf("strict load into a deeper model: error %v, want one naming layer1.1.conv1.0.weight", err)
	}
}

func TestPrefixesAndSafetensorsRoundTrip(t *testing.T) {
	m, err := New(smallConfig, rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.LoadWeights("testdata/small.pth", LoadOptions{Strict: true}); err != nil {
		t.Fatal(err)
	}
	tensors, err := nn.ParamTensors(m.Params())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ssl.safetensors")
	if err := nn.SaveCheckpoint(path, nn.WithPrefix("module.encoder.", tensors), nil); err != nil {
		t.Fatal(err)
	}
	m2, _ := New(smallConfig, rand.New(rand.NewPCG(4, 4)))
	rep, err := m2.LoadWeights(path, LoadOptions{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatal(rep)
	}
	p1, p2 := m.Params(), m2.Params()
	for i := range p1 {
		a, b := p1[i].Data(), p2[i].Data()
		for j := range a {
			if a[j] != b[j] {
				t.Fatalf("%s[%d]: %v after round trip, want %v", p1[i].Name, j, b[j], a[j])
			}
		}
	}
	if _, err := StripPrefixes(map[string]*tensor.Dense{"module.a": nil, "a": nil}, DefaultPrefixes); err == nil {
		t.Error("colliding names after stripping gave no error")
	}
}

// TestReadWeightsRefusesNonFinite reads testdata/nonfinite.pth (made by
// testdata/make_nonfinite.py), whose fc holds a NaN and +Inf.
func TestReadWeightsRefusesNonFinite(t *testing.T) {
	_, err := ReadWeights("testdata/nonfinite.pth")
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"testdata/nonfinite.pth", `"fc.weight" (1 of 2 values, the first NaN at index 1)`, `"fc.bias" (1 of 1 values, the first +Inf at index 0)`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "running_mean") {
		t.Errorf("error %q names a finite tensor", err)
	}
}

// narrow returns cfg with the width, block counts and classes of the
// reduced models of testdata/make_arch_golden.py.
func narrow(cfg Config, width int, blocks [4]int) Config {
	cfg.Width, cfg.Blocks, cfg.NumClasses = width, blocks, 3
	return cfg
}

// TestArchitecturesMatchTorchvision loads, for R3D, MC3, R(2+1)D and a
// Bottleneck network of 18 layers at a reduced width, a .pth that
// torchvision's VideoResNet saved, and compares eval logits (1e-4) and
// training gradients (1e-3) with torchvision's.
func TestArchitecturesMatchTorchvision(t *testing.T) {
	deep := [4]int{2, 2, 2, 2}
	bottleneck := R3D18(0)
	bottleneck.Block = Bottleneck
	for _, tc := range []struct {
		name string
		cfg  Config
		need []string
	}{
		{"r3d18", narrow(R3D18(0), 8, deep), []string{"layer1.1.conv2.0.weight", "layer4.1.conv2.1.weight"}},
		{"mc3_18", narrow(MC3_18(0), 8, deep), []string{"layer1.1.conv2.0.weight", "layer2.0.downsample.0.weight", "layer4.1.conv2.1.weight"}},
		{"r2plus1d18", narrow(R2Plus1D18(0), 8, deep), []string{"stem.3.weight", "layer1.0.conv1.0.0.weight", "layer1.0.conv1.0.3.weight", "layer4.1.conv2.0.1.weight", "layer4.1.conv2.1.weight"}},
		{"bottleneck", narrow(bottleneck, 4, [4]int{1, 1, 1, 1}), []string{"layer1.0.conv3.0.weight", "layer1.0.downsample.0.weight", "layer4.0.conv3.1.weight"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", tc.name+"_small")
			checkGolden(t, tc.cfg, dir+".pth", dir+".json", append([]string{"stem.0.weight", "fc.weight"}, tc.need...)...)
		})
	}
}

// TestArchitectureNames compares the parameter names, shapes and order of
// R3D18, MC3_18 and R2Plus1D18 with the state dicts of torchvision's
// r3d_18, mc3_18 and r2plus1d_18 (testdata/arch_names.json, written by
// testdata/make_arch_golden.py).
func TestArchitectureNames(t *testing.T) {
	b, err := os.ReadFile("testdata/arch_names.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][][2]json.RawMessage
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{"r3d18": R3D18(400), "mc3_18": MC3_18(400), "r2plus1d18": R2Plus1D18(400)} {
		m, err := New(cfg, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		ps := m.Params()
		if len(ps) != len(want[name]) {
			t.Errorf("%s: %d state entries, torchvision has %d", name, len(ps), len(want[name]))
			continue
		}
		var learnable int
		for i, p := range ps {
			var wn string
			var ws []int
			if err := json.Unmarshal(want[name][i][0], &wn); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(want[name][i][1], &ws); err != nil {
				t.Fatal(err)
			}
			if len(ws) == 0 {
				ws = []int{1} // num_batches_tracked is a 0-d tensor in PyTorch
			}
			if p.Name != wn || !equalInts(p.Shape(), ws) {
				t.Errorf("%s: entry %d is %s %v, torchvision's is %s %v", name, i, p.Name, p.Shape(), wn, ws)
			}
			if !p.Buffer {
				learnable += len(p.Data())
			}
		}
		t.Logf("%s: %d entries, %d learnable values", name, len(ps), learnable)
	}
}

// TestFullArchitecturesMatchTorchvision needs torchvision's full mc3_18
// and r2plus1d_18 files, which are too big to commit: .ci/run makes them
// with testdata/make_arch_golden.py --full DIR and sets
// VIDSSL_R3D18_DIR=DIR.
func TestFullArchitecturesMatchTorchvision(t *testing.T) {
	dir := os.Getenv("VIDSSL_R3D18_DIR")
	if dir == "" {
		t.Skip("VIDSSL_R3D18_DIR not set; make the files with /usr/bin/python3 resnet3d/testdata/make_arch_golden.py --full DIR")
	}
	for name, cfg := range map[string]Config{"mc3_18": MC3_18(10), "r2plus1d18": R2Plus1D18(10)} {
		t.Run(name, func(t *testing.T) {
			// The golden leaves out the gradients that a switching ReLU
			// can move (see make_arch_golden.py), so only the last ones are
			// sure to be there.
			checkGolden(t, cfg, filepath.Join(dir, name+".pth"), filepath.Join(dir, name+".json"), "layer4.1.conv2.1.weight", "fc.weight")
		})
	}
}

// TestTinyInputs runs every architecture in evaluation mode on clips
// smaller than its strides, which CheckInput accepts: every convolution
// pads, so each stage keeps at least one position, and the main and
// shortcut paths of every block agree in shape.
func TestTinyInputs(t *testing.T) {
	bottleneck := R3D18(2)
	bottleneck.Block = Bottleneck
	for _, cfg := range []Config{R3D18(2), MC3_18(2), R2Plus1D18(2), bottleneck} {
		cfg.Width, cfg.Blocks = 4, [4]int{1, 2, 1, 1}
		m, err := New(cfg, rand.New(rand.NewPCG(1, 1)))
		if err != nil {
			t.Fatal(err)
		}
		for _, shape := range [][5]int{{1, 3, 1, 1, 1}, {2, 3, 3, 5, 7}} {
			if err := cfg.CheckInput(shape); err != nil {
				t.Fatal(err)
			}
			g := nn.NewGraph(false, nil)
			x := g.Input("x", shape[:]...)
			logits, err := m.Forward(g, x)
			if err != nil {
				t.Fatalf("%v %v: %v", cfg.Convs, shape, err)
			}
			prog := nn.NewEvaluator(g)
			_, err = prog.Run(context.Background(), nn.Feed{Node: x, Data: make([]float32, shape[0]*shape[1]*shape[2]*shape[3]*shape[4])})
			prog.Close()
			if err != nil {
				t.Fatalf("%v %v: %v", cfg.Convs, shape, err)
			}
			if s := logits.Shape(); s[0] != shape[0] || s[1] != 2 {
				t.Errorf("%v %v: logits %v", cfg.Convs, shape, s)
			}
		}
	}
}
