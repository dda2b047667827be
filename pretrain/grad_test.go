package pretrain

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/video"
)

// TestStepGradient checks the whole training graph (two encoder passes
// sharing Params, heads, NT-Xent with masking, frame-order cross-entropy)
// against central differences of its loss, for sampled elements of every
// learnable Param.
func TestStepGradient(t *testing.T) {
	cfg := tinyConfig(MISimCLRFO)
	cfg.BatchPairs = 4
	cfg.Tau = 0.5
	model, err := NewModel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{cfg: cfg, model: model, opt: nn.NewAdam(cfg.LR)}
	shape := [5]int{4, 3, 4, 16, 16}
	s, err := r.build(shape, cfg.ContrastiveWeight)
	if err != nil {
		t.Fatal(err)
	}
	defer s.prog.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	mk := func() *video.Batch {
		b := &video.Batch{Shape: shape, Data: make([]float32, 4*3*4*16*16), Labels: []int{3, 17, 0, 23}, Groups: []string{"a", "b", "a", "c"}}
		for i := range b.Data {
			b.Data[i] = rng.Float32()
		}
		return b
	}
	v1, v2 := mk(), mk()
	feeds := []nn.Feed{{Node: s.x1, Data: v1.Data}, {Node: s.x2, Data: v2.Data}, {Node: s.groups, Data: []float32{0, 1, 0, 2}},
		{Node: s.y1, Data: labels(v1.Labels)}, {Node: s.y2, Data: labels(v2.Labels)}}
	// With a zero learning rate the trainer computes gradients and changes
	// nothing (but batch-norm running statistics, which training mode does
	// not read).
	r.opt.(*nn.Adam).LR = 0
	loss0, err := s.prog.Run(t.Context(), feeds...)
	if err != nil {
		t.Fatal(err)
	}
	params, grads := s.prog.Params(), nn.GradValues(s.prog.Grads())
	eval := func() float64 {
		l, err := s.prog.Run(t.Context(), feeds...)
		if err != nil {
			t.Fatal(err)
		}
		return float64(l)
	}
	probes := 6 // entries of each parameter
	if testing.Short() {
		probes = 2
	}
	for i, p := range params {
		g := grads[i].Data().([]float32)
		gc := append([]float32(nil), g...)
		d := p.Data()
		var worst, scale float64
		for k := 0; k < probes; k++ {
			j := rng.IntN(len(d))
			orig := d[j]
			const eps = 2e-4
			d[j] = orig + eps
			lp := eval()
			d[j] = orig - eps
			lm := eval()
			d[j] = orig
			num := (lp - lm) / (2 * eps)
			scale = math.Max(scale, math.Abs(num))
			worst = math.Max(worst, math.Abs(num-float64(gc[j])))
		}
		if worst/math.Max(scale, 1e-2) > 0.05 {
			t.Errorf("%s: gradient off by %.3g (scale %.3g)", p.Name, worst, scale)
		}
	}
	t.Logf("loss %v, %d params", loss0, len(params))
}
