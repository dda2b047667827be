package finetune

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/nn"
)

// TestOptimizerConfig: Config.Optimizer is validated with the rest, is
// left out of the JSON when zero (the paper's Adam) and read back when
// set, and each run of a sweep gets its learning rate into the optimiser
// that the CPU's programs keep.
func TestOptimizerConfig(t *testing.T) {
	c := SmallConfig()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "Optimizer") {
		t.Errorf("JSON of the preset names the optimiser: %s", b)
	}
	c.Optimizer = sgdConfig
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if b, err = json.Marshal(c); err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil || back.Optimizer != sgdConfig {
		t.Errorf("JSON %s read back with optimiser %+v, %v", b, back.Optimizer, err)
	}
	for _, tc := range []struct {
		o    nn.OptimizerConfig
		want string
	}{
		{nn.OptimizerConfig{Kind: "rmsprop"}, `Optimizer: nn: optimizer: unknown Kind "rmsprop"`},
		{nn.OptimizerConfig{Kind: nn.OptimizerSGD, Momentum: -1}, "Optimizer: nn: optimizer sgd: Momentum = -1"},
		{nn.OptimizerConfig{Kind: nn.OptimizerSGD, Nesterov: true}, "Nesterov needs Momentum"},
		{nn.OptimizerConfig{Beta1: 2}, "Beta1 = 2"},
	} {
		c.Optimizer = tc.o
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one with %q", tc.o, err, tc.want)
		}
	}

	for _, o := range []nn.OptimizerConfig{{}, sgdConfig} {
		opt, err := o.New(1)
		if err != nil {
			t.Fatal(err)
		}
		r := &runner{opt: opt, pcg: rand.NewPCG(0, 0), train: &cpuSteps{}}
		if err := r.start(0.25); err != nil {
			t.Fatal(err)
		}
		var lr float64
		switch o := opt.(type) {
		case *nn.Adam:
			lr = o.LR
		case *nn.SGD:
			lr = o.LR
		}
		if lr != 0.25 {
			t.Errorf("%v: learning rate %v after start(0.25)", o, lr)
		}
	}
}
