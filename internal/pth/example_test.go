package pth_test

import (
	"fmt"
	"log"

	"github.com/vidssl/vidssl/internal/pth"
)

func Example() {
	// bn.pth is torch.save(model.state_dict()) of a Conv3d, a BatchNorm3d and a Linear.
	f, err := pth.ReadFile("testdata/bn.pth")
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range f.Tensors {
		fmt.Println(t.Name, t.DType, t.Shape)
	}
	n, _ := f.Lookup("stem.1.num_batches_tracked")
	fmt.Println("batches:", n.Ints[0])
	// Output:
	// stem.0.weight float32 [2 1 1 2 2]
	// stem.1.weight float32 [2]
	// stem.1.bias float32 [2]
	// stem.1.running_mean float32 [2]
	// stem.1.running_var float32 [2]
	// stem.1.num_batches_tracked int64 []
	// fc.weight float32 [3 2]
	// fc.bias float32 [3]
	// batches: 1
}

func ExampleFile_Under() {
	// checkpoint.pth is {"epoch": 3, "arch": "small", "best": 0.75,
	// "state_dict": ..., "optimizer": ..., "ema": [...]}.
	f, err := pth.ReadFile("testdata/checkpoint.pth")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Keys, "root:", f.Root, "tensors:", len(f.Tensors))
	for _, t := range f.Under("optimizer") {
		fmt.Println(t.Name, t.Shape)
	}
	// Output:
	// [epoch arch best state_dict optimizer ema] root: state_dict tensors: 8
	// state.3.momentum_buffer [3 2]
	// state.4.momentum_buffer [3]
}
