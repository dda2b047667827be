package nn

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/internal/golden"
)

// toyModel is the small 3-D CNN of testdata/train/make_golden.py, with the
// same state_dict names as its torch.nn.Sequential.
func toyModel(rng *rand.Rand) *Sequential {
	return NewSequential(
		NewConv3dLayer("0", 1, 4, [3]int{3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, false, rng),
		NewBatchNorm3dLayer("1", 4),
		ReLULayer{},
		&GlobalAvgPool3dLayer{Name: "3"},
		FlattenLayer{},
		NewLinearLayer("5", 4, 1, true, rng),
	)
}

// TestToyTrainingMatchesPyTorch trains the toy CNN with Adam from PyTorch's
// initial weights on PyTorch's data: the first losses match PyTorch's, and
// the loss falls as it does there.
func TestToyTrainingMatchesPyTorch(t *testing.T) {
	gold, err := golden.Load("testdata/train/toy.json")
	if err != nil {
		t.Fatal(err)
	}
	model := toyModel(rand.New(rand.NewPCG(1, 1)))
	for _, p := range model.Params() {
		want, ok := gold["param."+p.Name]
		if !ok {
			if p.Buffer {
				continue // num_batches_tracked is not in the golden
			}
			t.Fatalf("golden has no %q", p.Name)
		}
		copy(p.Data(), want.Float32())
	}
	xg, yg := gold["x"], gold["y"]
	g := NewGraph(true, rand.New(rand.NewPCG(2, 2)))
	x, y := g.Input("x", xg.Shape...), g.Input("y", yg.Shape...)
	logits, err := model.Forward(g, x)
	if err != nil {
		t.Fatal(err)
	}
	if logits, err = Reshape(logits, yg.Shape[0]); err != nil {
		t.Fatal(err)
	}
	loss, err := BCEWithLogits(logits, y, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(g, loss, NewAdam(0.05))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	want := gold["losses"].Data
	var got []float64
	for step := range want {
		l, err := tr.Run(context.Background(), Feed{x, xg.Float32()}, Feed{y, yg.Float32()})
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		got = append(got, float64(l))
	}
	// The first steps agree closely; later ones drift apart as float32
	// rounding compounds, so they are only checked for the same trend.
	for step := 0; step < 5; step++ {
		if rel := math.Abs(got[step]-want[step]) / want[step]; rel > 1e-4 {
			t.Errorf("step %d: loss %.7f, PyTorch %.7f (relative error %.2g)", step, got[step], want[step], rel)
		}
	}
	last := len(want) - 1
	if got[last] > 0.25*got[0] {
		t.Errorf("loss fell from %.4f to only %.4f in %d steps (PyTorch: %.4f)", got[0], got[last], last, want[last])
	}
	t.Logf("losses: first %.5f, after %d steps %.5f (PyTorch %.5f -> %.5f)", got[0], last, got[last], want[0], want[last])
}

// TestTrainerRefusesNaN checks that a NaN input stops a training step with an
// error naming the loss, and that no parameter changes.
func TestTrainerRefusesNaN(t *testing.T) {
	model := toyModel(rand.New(rand.NewPCG(1, 1)))
	g := NewGraph(true, nil)
	x, y := g.Input("x", 2, 1, 3, 4, 4), g.Input("y", 2)
	logits, err := model.Forward(g, x)
	if err != nil {
		t.Fatal(err)
	}
	if logits, err = Reshape(logits, 2); err != nil {
		t.Fatal(err)
	}
	loss, err := BCEWithLogits(logits, y, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(g, loss, NewAdam(0.1))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	before := append([]float32(nil), model.Params()[0].Data()...)
	data := make([]float32, 2*3*4*4)
	data[5] = float32(math.NaN())
	_, err = tr.Run(context.Background(), Feed{x, data}, Feed{y, []float32{0, 1}})
	if err == nil || !strings.Contains(err.Error(), "BCEWithLogits") {
		t.Fatalf("NaN input: error %v, want one naming BCEWithLogits", err)
	}
	for i, v := range model.Params()[0].Data() {
		if v != before[i] {
			t.Fatal("a failed step changed the parameters")
		}
	}
	if _, err := tr.Run(context.Background(), Feed{x, data[:5]}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("short feed: error %v, want one naming x", err)
	}
}
