package contrastive_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/video"
)

// A projection head and NT-Xent on a batch of 3 pairs of features, with
// same-group masking: pairs 0 and 2 come from one study.
func ExampleNTXent() {
	rng := rand.New(rand.NewPCG(1, 2))
	head, err := contrastive.NewProjectionHead(8, rng)
	if err != nil {
		fmt.Println(err)
		return
	}
	g := nn.NewGraph(true, nil)
	h1, h2 := g.Input("h1", 3, 8), g.Input("h2", 3, 8)
	groups := g.Input("groups", 3)
	z1, err := head.Forward(g, h1)
	if err != nil {
		fmt.Println(err)
		return
	}
	z2, err := head.Forward(g, h2)
	if err != nil {
		fmt.Println(err)
		return
	}
	loss, err := contrastive.NTXent(z1, z2, groups, contrastive.Tau)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, params := g.Learnables()
	if _, err := G.Grad(loss, params...); err != nil {
		fmt.Println(err)
		return
	}
	feats := func() []float32 {
		d := make([]float32, 24)
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		return d
	}
	prog := nn.NewEvaluator(g)
	defer prog.Close()
	_, err = prog.Run(context.Background(),
		nn.Feed{Node: h1, Data: feats()}, nn.Feed{Node: h2, Data: feats()},
		nn.Feed{Node: groups, Data: contrastive.GroupCodes([]string{"S1", "S2", "S1"}).Float32s()})
	if err != nil {
		fmt.Println(err)
		return
	}
	v, _ := nn.ScalarValue(loss.Value())
	fmt.Printf("z: %v, loss > 0: %t\n", z1.Shape(), v > 0)
	// Output:
	// z: (3, 2), loss > 0: true
}

// Multi-instance pairs: every unordered pair of a study's videos; a study
// with one video is paired with itself.
func ExampleMultiInstanceItems() {
	m := &video.Manifest{Records: []video.Record{
		{Path: "a1.avi", Study: "A"}, {Path: "a2.avi", Study: "A"}, {Path: "a3.avi", Study: "A"},
		{Path: "b1.avi", Study: "B"},
	}}
	items, err := contrastive.MultiInstanceItems(m, contrastive.ByStudy)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, it := range items {
		fmt.Println(it.Group, it.Paths)
	}
	// Output:
	// A [a1.avi a2.avi]
	// A [a1.avi a3.avi]
	// A [a2.avi a3.avi]
	// B [b1.avi b1.avi]
}
