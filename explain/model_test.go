package explain

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vidssl/vidssl/internal/golden"
	"github.com/vidssl/vidssl/resnet3d"
)

// TestResNetCAMMatchesPyTorch compares Grad-CAM of layer4 of the committed
// small torchvision VideoResNet (resnet3d/testdata/small.pth), in evaluation
// mode, with testdata/make_model_golden.py's PyTorch computation.
func TestResNetCAMMatchesPyTorch(t *testing.T) {
	m, err := resnet3d.New(resnet3d.Config{InChannels: 3, Width: 4, Blocks: [4]int{1, 1, 1, 1}, NumClasses: 3}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.LoadWeights("../resnet3d/testdata/small.pth", resnet3d.LoadOptions{Strict: true}); err != nil {
		t.Fatal(err)
	}
	gold, err := golden.Load("testdata/model.json")
	if err != nil {
		t.Fatal(err)
	}
	x := gold["x"]
	cam, err := ResNetCAM(context.Background(), m, x.Float32(), [5]int(x.Shape), 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []float32
		tol  float64
	}{{"logits", cam.Logits, 1e-4}, {"volumes", cam.Volumes, 1e-4}, {"heatmaps", cam.Heatmaps, 1e-4}} {
		want := gold[c.name].Data
		if len(want) != len(c.got) {
			t.Fatalf("%s: %d values, want %d", c.name, len(c.got), len(want))
		}
		var worst float64
		for i := range want {
			worst = math.Max(worst, math.Abs(float64(c.got[i])-want[i]))
		}
		if worst > c.tol {
			t.Errorf("%s: max difference %.3g from PyTorch > %g", c.name, worst, c.tol)
		}
	}
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
