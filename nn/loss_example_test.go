package nn_test

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
)

// A loss graph is built once; each step binds new logits and targets with
// gorgonia.Let and runs the machine again.
func ExampleBCEWithLogits() {
	g := nn.NewGraph(true, nil)
	logits := g.Input("logits", 3)
	targets := g.Input("targets", 3)
	loss, err := nn.BCEWithLogits(logits, targets, 2) // pos_weight = n_neg / n_pos
	if err != nil {
		panic(err)
	}
	m := G.NewTapeMachine(g.Exp)
	defer m.Close()
	vec := func(v ...float32) *tensor.Dense { return tensor.New(tensor.WithBacking(v)) }
	for _, t := range [][]float32{{1, 0, 0}, {0, 1, 1}} {
		if err := G.Let(logits, vec(2, -1, 0.5)); err != nil {
			panic(err)
		}
		if err := G.Let(targets, vec(t...)); err != nil {
			panic(err)
		}
		m.Reset()
		if err := m.RunAll(); err != nil {
			panic(err)
		}
		v, err := nn.ScalarValue(loss.Value())
		if err != nil {
			panic(err)
		}
		fmt.Printf("targets %v: loss %.4f\n", t, v)
	}
	// Output:
	// targets [1 0 0]: loss 0.5137
	// targets [0 1 1]: loss 1.9005
}

// CrossEntropyGrad computes the cross-entropy and its gradient on the host,
// for a loss taken outside a graph (e.g. on the outputs of a GPU step).
func ExampleCrossEntropyGrad() {
	logits := []float32{2, 0, 0, 0, 1, 0} // two rows of three classes
	dlogits := make([]float32, len(logits))
	loss, err := nn.CrossEntropyGrad(logits, []int{0, 1}, 3, 1, dlogits)
	if err != nil {
		panic(err)
	}
	fmt.Printf("loss %.4f, gradient %.4f\n", loss, dlogits)
	// Output:
	// loss 0.3955, gradient [-0.1065 0.0533 0.0533 0.1060 -0.2119 0.1060]
}
