package nn_test

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
)

// ExampleAdam fits a Param to a target by minimising the squared error with
// Adam: bind the Param into a graph, differentiate, run, step.
func ExampleAdam() {
	w := nn.NewParam("w", 3)
	g := nn.NewGraph(true, nil)
	target := G.NewTensor(g.Exp, tensor.Float32, 1, G.WithShape(3), G.WithName("target"),
		G.WithValue(tensor.New(tensor.WithShape(3), tensor.WithBacking([]float32{1, -2, 0.5}))))
	loss := G.Must(G.Sum(G.Must(G.Square(G.Must(G.Sub(g.Bind(w), target))))))
	params, nodes := g.Learnables()
	grads, err := G.Grad(loss, nodes...)
	if err != nil {
		panic(err)
	}
	m := G.NewTapeMachine(g.Exp)
	defer m.Close()

	opt := nn.NewAdam(0.05)
	for range 300 {
		if err := m.RunAll(); err != nil {
			panic(err)
		}
		if err := opt.Step(params, nn.GradValues(grads)); err != nil {
			panic(err)
		}
		m.Reset()
	}
	fmt.Printf("w = %.3f\n", w.Data())
	fmt.Println("step:", opt.State()["w.step"].Data())
	// Output:
	// w = [1.000 -2.000 0.500]
	// step: 300
}

// ExampleSGD takes one step of SGD with Nesterov momentum on flat gradients.
func ExampleSGD() {
	p := nn.NewParam("fc.weight", 2)
	copy(p.Data(), []float32{1, 2})
	opt := &nn.SGD{LR: 0.1, Momentum: 0.9, Nesterov: true}
	for range 2 {
		if err := opt.StepSlices([]*nn.Param{p}, [][]float32{{1, -1}}); err != nil {
			panic(err)
		}
	}
	fmt.Printf("%.3f\n", p.Data())
	// Output:
	// [0.539 2.461]
}

// ExampleOptimizerConfig chooses an optimiser as a value, as a training
// configuration holds it, and builds it for a learning rate. The zero value
// is PyTorch's Adam.
func ExampleOptimizerConfig() {
	var paper nn.OptimizerConfig
	sgd := nn.OptimizerConfig{Kind: nn.OptimizerSGD, Momentum: 0.9, Nesterov: true}
	for _, c := range []nn.OptimizerConfig{paper, sgd} {
		opt, err := c.New(0.1)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%v: %T\n", c, opt)
	}
	bad := nn.OptimizerConfig{Kind: nn.OptimizerSGD, Nesterov: true}
	fmt.Println(bad.Validate())
	// Output:
	// adam: *nn.Adam
	// sgd(momentum=0.9, nesterov): *nn.SGD
	// nn: optimizer sgd: Nesterov needs Momentum > 0 and Dampening 0, have 0 and 0
}
