package explain

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/nn"
)

// tinySplit is a user's model, not from resnet3d: a 1x1x1 convolution from
// cin to c channels (the target layer), then global average pooling and a
// linear layer to k logits.
func tinySplit(cin, c, k int) (Split, *nn.Conv3dLayer, *nn.LinearLayer) {
	rng := rand.New(rand.NewPCG(9, 10))
	conv := nn.NewConv3dLayer("conv", cin, c, [3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{}, false, rng)
	fc := nn.NewLinearLayer("fc", c, k, true, rng)
	return Split{
		Before: nn.NewSequential(conv),
		After:  nn.NewSequential(&nn.GlobalAvgPool3dLayer{Name: "pool"}, nn.FlattenLayer{}, fc),
	}, conv, fc
}

// TestModelCAMUserModel: Grad-CAM of a model of the caller's against the
// maps computed by hand. For a 1x1x1 convolution followed by average
// pooling and a linear layer, the activations are the convolution's
// weighted sums and the gradient of logit class at every position is
// fc.weight[class, c] / (t*h*w).
func TestModelCAMUserModel(t *testing.T) {
	const cin, c, k = 2, 3, 4
	shape := [5]int{2, cin, 3, 4, 5}
	m, conv, fc := tinySplit(cin, c, k)
	rng := rand.New(rand.NewPCG(1, 2))
	vol := shape[2] * shape[3] * shape[4]
	x := make([]float32, shape[0]*cin*vol)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	wc, wf, bf := conv.Weight.Data(), fc.Weight.Data(), fc.Bias.Data()
	acts := make([]float32, shape[0]*c*vol)
	for n := range shape[0] {
		for o := range c {
			for p := range vol {
				var s float32
				for i := range cin {
					s += wc[o*cin+i] * x[(n*cin+i)*vol+p]
				}
				acts[(n*c+o)*vol+p] = s
			}
		}
	}
	for class := range k {
		grads := make([]float32, len(acts))
		for n := range shape[0] {
			for o := range c {
				for p := range vol {
					grads[(n*c+o)*vol+p] = wf[class*c+o] / float32(vol)
				}
			}
		}
		heat, _, err := Saliency(acts, grads, [5]int{shape[0], c, shape[2], shape[3], shape[4]}, [3]int{shape[2], shape[3], shape[4]})
		if err != nil {
			t.Fatal(err)
		}
		got, err := ModelCAM(context.Background(), m, x, shape, class)
		if err != nil {
			t.Fatal(err)
		}
		if got.Shape != [4]int{shape[0], shape[2], shape[3], shape[4]} {
			t.Errorf("class %d: shape %v", class, got.Shape)
		}
		for i, v := range heat {
			if math.Abs(float64(got.Heatmaps[i]-v)) > 1e-5 {
				t.Fatalf("class %d: heatmap %d is %v, want %v", class, i, got.Heatmaps[i], v)
			}
		}
		for n := range shape[0] {
			for j := range k {
				want := bf[j]
				for o := range c {
					var mean float64
					for p := range vol {
						mean += float64(acts[(n*c+o)*vol+p])
					}
					want += wf[j*c+o] * float32(mean/float64(vol))
				}
				if d := got.Logits[n*k+j] - want; math.Abs(float64(d)) > 1e-5 {
					t.Errorf("logit (%d, %d) is %v, want %v", n, j, got.Logits[n*k+j], want)
				}
			}
		}
	}
}

// TestModelCAMBadArguments: bad models and arguments are errors naming
// ModelCAM, found before a graph runs.
func TestModelCAMBadArguments(t *testing.T) {
	m, _, _ := tinySplit(2, 3, 4)
	good := [5]int{1, 2, 3, 4, 5}
	data := make([]float32, 2*3*4*5)
	for name, c := range map[string]struct {
		m     Split
		shape [5]int
		clips []float32
		class int
	}{
		"no Before":      {Split{After: m.After}, good, data, 0},
		"no After":       {Split{Before: m.Before}, good, data, 0},
		"zero T":         {m, [5]int{1, 2, 0, 4, 5}, nil, 0},
		"short data":     {m, good, data[1:], 0},
		"wrong channels": {m, [5]int{1, 1, 3, 4, 5}, data[:3*4*5], 0},
		"class 4 of 4":   {m, good, data, 4},
		"negative class": {m, good, data, -1},
		"layer not 5-D":  {Split{Before: nn.NewSequential(m.Before, nn.FlattenLayer{}), After: m.After}, good, data, 0},
		"logits 5-D":     {Split{Before: m.Before, After: m.Before}, good, data, 0},
	} {
		if _, err := ModelCAM(context.Background(), c.m, c.clips, c.shape, c.class); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "explain: ModelCAM: ") {
			t.Errorf("%s: error %q does not name the place", name, err)
		}
	}
}
