package nn_test

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"

	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
)

// ExampleSaveCheckpoint saves a model's Params and its optimiser's state in
// one safetensors file, then resumes from it.
func ExampleSaveCheckpoint() {
	dir, err := os.MkdirTemp("", "vidssl-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "epoch20.safetensors")

	w := nn.NewParam("fc.weight", 1, 2)
	nbt := nn.NewBuffer("bn.num_batches_tracked", 1)
	copy(w.Data(), []float32{0.5, -1})
	params := []*nn.Param{w, nbt}
	opt := nn.NewAdam(1e-3)
	if err := opt.StepSlices(params, [][]float32{{0.1, 0.2}, nil}); err != nil {
		panic(err)
	}
	nbt.Data()[0] = 1

	tensors, err := nn.ParamTensors(params)
	if err != nil {
		panic(err)
	}
	maps.Copy(tensors, nn.WithPrefix("optim.", opt.State()))
	if err := nn.SaveCheckpoint(path, tensors, map[string]string{"epoch": "20"}); err != nil {
		panic(err)
	}

	// Resume: a fresh model and optimiser.
	ck, err := nn.LoadCheckpoint(path)
	if err != nil {
		panic(err)
	}
	w2, nbt2 := nn.NewParam("fc.weight", 1, 2), nn.NewBuffer("bn.num_batches_tracked", 1)
	optState, model := nn.SplitPrefix("optim.", ck.Tensors)
	report, err := nn.ApplyState([]*nn.Param{w2, nbt2}, model, true)
	if err != nil {
		panic(err)
	}
	opt2 := nn.NewAdam(1e-3)
	if err := opt2.SetState(optState); err != nil {
		panic(err)
	}
	fmt.Println("epoch", ck.Metadata["epoch"], "-", report)
	fmt.Printf("fc.weight %.4f, num_batches_tracked %v stored as %s\n", w2.Data(), nbt2.Data(), ck.DTypes["bn.num_batches_tracked"])
	fmt.Println("optimiser state:", len(optState), "tensors")
	// Output:
	// epoch 20 - 2 loaded
	// fc.weight [0.4990 -1.0010], num_batches_tracked [1] stored as I64
	// optimiser state: 3 tensors
}

// ExampleLoadState loads weights non-strictly, as fine-tuning from a
// pretrained encoder does: the new head is reported missing and kept.
func ExampleLoadState() {
	dir, err := os.MkdirTemp("", "vidssl-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "encoder.safetensors")

	enc := nn.NewParam("stem.0.weight", 2)
	proj := nn.NewParam("head.0.weight", 2)
	nn.Fill(enc, 3)
	tensors, _ := nn.ParamTensors([]*nn.Param{enc, proj})
	if err := nn.SaveCheckpoint(path, tensors, nil); err != nil {
		panic(err)
	}

	enc2, fc := nn.NewParam("stem.0.weight", 2), nn.NewParam("fc.weight", 1, 2)
	report, err := nn.LoadState(path, []*nn.Param{enc2, fc}, false)
	if err != nil {
		panic(err)
	}
	fmt.Println(report)
	fmt.Println(enc2.Data())
	// Output:
	// 1 loaded; 1 missing: fc.weight; 1 unexpected: head.0.weight
	// [3 3]
}

// CheckFinite names the tensors that hold NaN or an infinity; loading a
// checkpoint refuses such a file with this error.
func ExampleCheckFinite() {
	tensors := map[string]*tensor.Dense{
		"fc.weight": tensor.New(tensor.WithBacking([]float32{0.5, float32(math.NaN()), 1})),
		"fc.bias":   tensor.New(tensor.WithBacking([]float32{0})),
	}
	fmt.Println(nn.CheckFinite(tensors))
	// Output:
	// non-finite values in 1 tensor(s): "fc.weight" (1 of 3 values, the first NaN at index 1)
}
