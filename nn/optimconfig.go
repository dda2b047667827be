package nn

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The optimisers an OptimizerConfig names in its Kind.
const (
	// OptimizerAdam is Adam (NewAdam), the optimiser of the zero
	// OptimizerConfig.
	OptimizerAdam = "adam"
	// OptimizerSGD is SGD.
	OptimizerSGD = "sgd"
)

// PyTorch's defaults for Adam, which NewAdam sets and OptimizerConfig's
// zero fields mean.
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// OptimizerConfig chooses an optimiser and its hyperparameters other than
// the learning rate, as a value: a field of a training configuration that
// can be copied, compared and written as JSON. New builds the optimiser for
// a learning rate; Validate says what is wrong.
//
// The zero value is Adam with PyTorch's defaults, as NewAdam makes it. A
// field that is 0 takes the optimiser's default, and the fields of the
// other kind must be 0. JSON leaves out the fields that are 0, so the zero
// value is written as {}.
type OptimizerConfig struct {
	// Kind is OptimizerAdam or OptimizerSGD; "" means OptimizerAdam.
	Kind string `json:",omitempty"`
	// WeightDecay is the L2 penalty coefficient added to the gradient, of
	// either kind; >= 0.
	WeightDecay float64 `json:",omitempty"`
	// Beta1 and Beta2 are Adam's betas, the decay rates of its moment
	// averages, in (0, 1); 0 means PyTorch's 0.9 and 0.999.
	Beta1, Beta2 float64 `json:",omitempty"`
	// Eps is Adam's eps, > 0; 0 means PyTorch's 1e-8.
	Eps float64 `json:",omitempty"`
	// Momentum is SGD's momentum factor, >= 0; 0 is plain gradient
	// descent, without state.
	Momentum float64 `json:",omitempty"`
	// Dampening damps the gradient's contribution to SGD's momentum
	// buffer, in [0, 1]; it needs Momentum.
	Dampening float64 `json:",omitempty"`
	// Nesterov selects SGD's Nesterov momentum; it needs Momentum and no
	// Dampening.
	Nesterov bool `json:",omitempty"`
}

// kind returns c.Kind, "" read as OptimizerAdam.
func (c OptimizerConfig) kind() string {
	if c.Kind == "" {
		return OptimizerAdam
	}
	return c.Kind
}

// Validate reports the first thing wrong with c, or nil.
func (c OptimizerConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("nn: optimizer %s: "+format, append([]any{c.kind()}, args...)...)
	}
	if !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0) {
		return bad("WeightDecay = %v, want >= 0", c.WeightDecay)
	}
	switch c.kind() {
	case OptimizerAdam:
		switch {
		case c.Momentum != 0 || c.Dampening != 0 || c.Nesterov:
			return bad("Momentum, Dampening and Nesterov are SGD's (Kind %q), want them 0", OptimizerSGD)
		case !(c.Beta1 >= 0 && c.Beta1 < 1):
			return bad("Beta1 = %v, want 0 < b < 1 (0: %v)", c.Beta1, adamBeta1)
		case !(c.Beta2 >= 0 && c.Beta2 < 1):
			return bad("Beta2 = %v, want 0 < b < 1 (0: %v)", c.Beta2, adamBeta2)
		case !(c.Eps >= 0) || math.IsInf(c.Eps, 0):
			return bad("Eps = %v, want > 0 (0: %v)", c.Eps, adamEps)
		}
	case OptimizerSGD:
		switch {
		case c.Beta1 != 0 || c.Beta2 != 0 || c.Eps != 0:
			return bad("Beta1, Beta2 and Eps are Adam's (Kind %q), want them 0", OptimizerAdam)
		case !(c.Momentum >= 0) || math.IsInf(c.Momentum, 0):
			return bad("Momentum = %v, want >= 0", c.Momentum)
		case !(c.Dampening >= 0 && c.Dampening <= 1):
			return bad("Dampening = %v, want 0..1", c.Dampening)
		case c.Dampening != 0 && c.Momentum == 0:
			return bad("Dampening = %v without Momentum", c.Dampening)
		case c.Nesterov && (c.Momentum == 0 || c.Dampening != 0):
			return bad("Nesterov needs Momentum > 0 and Dampening 0, have %v and %v", c.Momentum, c.Dampening)
		}
	default:
		return fmt.Errorf("nn: optimizer: unknown Kind %q, want %q or %q", c.Kind, OptimizerAdam, OptimizerSGD)
	}
	return nil
}

// New returns the optimiser c describes with learning rate lr: an *Adam or
// an *SGD, with a fresh state.
func (c OptimizerConfig) New(lr float64) (Optimizer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !(lr >= 0) || math.IsInf(lr, 0) {
		return nil, fmt.Errorf("nn: optimizer %s: learning rate %v, want >= 0", c.kind(), lr)
	}
	if c.kind() == OptimizerSGD {
		return &SGD{LR: lr, Momentum: c.Momentum, Dampening: c.Dampening, WeightDecay: c.WeightDecay, Nesterov: c.Nesterov}, nil
	}
	a := c.withDefaults()
	return &Adam{LR: lr, Beta1: a.Beta1, Beta2: a.Beta2, Eps: a.Eps, WeightDecay: c.WeightDecay}, nil
}

// withDefaults returns c with Adam's zero fields set to their defaults.
func (c OptimizerConfig) withDefaults() OptimizerConfig {
	if c.kind() != OptimizerAdam {
		return c
	}
	for _, f := range []struct {
		v   *float64
		def float64
	}{{&c.Beta1, adamBeta1}, {&c.Beta2, adamBeta2}, {&c.Eps, adamEps}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return c
}

// String describes c by its kind and the settings that differ from the
// kind's defaults: "adam" for the zero value, "sgd(momentum=0.9,
// nesterov)", "adam(weight_decay=0.0001, beta2=0.99)". Two valid configs
// that build the same optimiser have the same String.
func (c OptimizerConfig) String() string {
	d := c.withDefaults()
	var parts []string
	for _, f := range []struct {
		name   string
		v, def float64
	}{
		{"weight_decay", d.WeightDecay, 0},
		{"beta1", d.Beta1, adamBeta1}, {"beta2", d.Beta2, adamBeta2}, {"eps", d.Eps, adamEps},
		{"momentum", d.Momentum, 0}, {"dampening", d.Dampening, 0},
	} {
		if f.v != f.def && (c.kind() == OptimizerAdam || f.def == 0) {
			parts = append(parts, f.name+"="+strconv.FormatFloat(f.v, 'g', -1, 64))
		}
	}
	if d.Nesterov {
		parts = append(parts, "nesterov")
	}
	if len(parts) == 0 {
		return c.kind()
	}
	return c.kind() + "(" + strings.Join(parts, ", ") + ")"
}
