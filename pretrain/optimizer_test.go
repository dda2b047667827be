package pretrain

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/nn"
)

// TestOptimizerIdentity: the paper's Adam, however spelt, leaves a run's
// identity (and so the resumption of older checkpoints) as before
// Config.Optimizer existed; another optimiser changes it; an invalid one is
// an error naming Optimizer; a run state with SGD reads back.
func TestOptimizerIdentity(t *testing.T) {
	cfg := tinyConfig(MISimCLRFO)
	adam := identityWithout(t, cfg, "Optimizer")
	c := cfg
	c.Optimizer = nn.OptimizerConfig{Kind: nn.OptimizerAdam, Beta1: 0.9, Eps: 1e-8}
	if id, _ := c.identity(nil); id != adam {
		t.Errorf("identity of Adam with its defaults spelt out %s, want %s", id, adam)
	}
	c.Optimizer = sgdConfig
	if id, _ := c.identity(nil); !strings.Contains(id, `"Optimizer":"sgd(`) {
		t.Errorf("identity with SGD: %s", id)
	}
	c.Optimizer = nn.OptimizerConfig{Kind: nn.OptimizerSGD, Nesterov: true}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "pretrain: config: Optimizer: ") || !strings.Contains(err.Error(), "Nesterov") {
		t.Errorf("SGD with Nesterov and no momentum: error %v", err)
	}

	c.Optimizer = sgdConfig
	b, err := json.Marshal(&runState{Config: c, Data: "x", History: []EpochStats{}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := readState("sgd.safetensors", map[string]string{formatKey: format, stateKey: string(b)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Config.Optimizer != sgdConfig {
		t.Errorf("optimiser read back as %+v", st.Config.Optimizer)
	}
}

// TestResumeOtherOptimizer: resuming a run with another optimiser (or
// another setting of it) is an error naming both.
func TestResumeOtherOptimizer(t *testing.T) {
	m := testData(t)
	cfg := tinyConfig(MISimCLR)
	cfg.Epochs = 1
	adamDir, sgdDir := t.TempDir(), t.TempDir()
	if _, err := Run(t.Context(), cfg, m, adamDir); err != nil {
		t.Fatal(err)
	}
	sgd := cfg
	sgd.Optimizer = sgdConfig
	if _, err := Run(t.Context(), sgd, m, sgdDir); err != nil {
		t.Fatal(err)
	}
	cfg.Epochs, sgd.Epochs = 2, 2
	nesterov := sgd
	nesterov.Optimizer = nn.OptimizerConfig{Kind: nn.OptimizerSGD, Momentum: 0.9, Nesterov: true}
	for _, tc := range []struct {
		name string
		cfg  Config
		dir  string
		want string
	}{
		{"SGD after Adam", sgd, adamDir, "Optimizer adam in the checkpoint, sgd(weight_decay=0.0001, momentum=0.9, dampening=0.1) in this run"},
		{"Adam after SGD", cfg, sgdDir, "Optimizer sgd(weight_decay=0.0001, momentum=0.9, dampening=0.1) in the checkpoint, adam in this run"},
		{"other SGD", nesterov, sgdDir, "Optimizer sgd(weight_decay=0.0001, momentum=0.9, dampening=0.1) in the checkpoint, sgd(momentum=0.9, nesterov) in this run"},
	} {
		if _, err := Run(t.Context(), tc.cfg, m, tc.dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.want)
		}
	}
	if res, err := Run(t.Context(), sgd, m, sgdDir); err != nil || res.ResumedFrom == "" || len(res.History) != 2 {
		t.Errorf("resuming SGD with SGD: %v", err)
	}
}
