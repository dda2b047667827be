package contrastive

import (
	"math/rand/v2"
	"testing"

	"github.com/vidssl/vidssl/nn"
)

func TestProjectionHead(t *testing.T) {
	p, err := NewProjectionHead(512, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{"projector.0.weight": {256, 512}, "projector.2.weight": {128, 256}}
	for _, q := range p.Params() {
		s, ok := want[q.Name]
		if !ok || len(s) != 2 || q.Shape()[0] != s[0] || q.Shape()[1] != s[1] || q.Buffer {
			t.Errorf("param %s %v, want one of %v", q.Name, q.Shape(), want)
		}
		delete(want, q.Name)
	}
	if len(want) != 0 || p.OutDim() != 128 {
		t.Errorf("missing %v, out dim %d", want, p.OutDim())
	}
	// Forward through a graph: z = W2 relu(W1 h).
	small, err := NewProjectionHead(8, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	g := nn.NewGraph(false, nil)
	h := g.Input("h", 2, 8)
	z, err := small.Forward(g, h)
	if err != nil {
		t.Fatal(err)
	}
	hv := []float32{1, -2, 3, 0.5, 0, 1, -1, 2, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}
	prog := nn.NewEvaluator(g)
	defer prog.Close()
	if _, err := prog.Run(t.Context(), nn.Feed{Node: h, Data: hv}); err != nil {
		t.Fatal(err)
	}
	w1, w2 := small.First.Weight.Data(), small.Second.Weight.Data()
	got := z.Value().Data().([]float32)
	for n := 0; n < 2; n++ {
		hid := make([]float64, 4)
		for i := range hid {
			for j := 0; j < 8; j++ {
				hid[i] += float64(w1[i*8+j]) * float64(hv[n*8+j])
			}
			hid[i] = max(hid[i], 0)
		}
		for o := 0; o < 2; o++ {
			var want float64
			for i := range hid {
				want += float64(w2[o*4+i]) * hid[i]
			}
			if d := want - float64(got[n*2+o]); d > 1e-5 || d < -1e-5 {
				t.Errorf("z[%d][%d] = %v, want %v", n, o, got[n*2+o], want)
			}
		}
	}
	for _, f := range []int{0, 6, -4} {
		if _, err := NewProjectionHead(f, rand.New(rand.NewPCG(1, 1))); err == nil {
			t.Errorf("NewProjectionHead(%d): no error", f)
		}
	}
}
