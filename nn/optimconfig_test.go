package nn

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestOptimizerConfig: the zero value builds NewAdam's optimiser and is
// written as {}; every field reaches the optimiser it belongs to; String
// names what differs from the defaults, the same for equal optimisers.
func TestOptimizerConfig(t *testing.T) {
	var zero OptimizerConfig
	opt, err := zero.New(1e-3)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := opt.(*Adam); !ok || adamFields(a) != adamFields(NewAdam(1e-3)) {
		t.Errorf("zero value: %#v, want NewAdam(1e-3)", opt)
	}
	if b, err := json.Marshal(zero); err != nil || string(b) != "{}" {
		t.Errorf("zero value as JSON: %s, %v", b, err)
	}
	if zero.String() != "adam" || (OptimizerConfig{Kind: OptimizerAdam, Beta1: 0.9, Eps: 1e-8}).String() != "adam" {
		t.Errorf("String of PyTorch's Adam: %q", zero)
	}

	adam := OptimizerConfig{Kind: OptimizerAdam, WeightDecay: 1e-4, Beta2: 0.99, Eps: 1e-6}
	opt, err = adam.New(0.5)
	if err != nil {
		t.Fatal(err)
	}
	if a := opt.(*Adam); adamFields(a) != [5]float64{0.5, 0.9, 0.99, 1e-6, 1e-4} {
		t.Errorf("Adam: %+v", a)
	}
	if s := adam.String(); s != "adam(weight_decay=0.0001, beta2=0.99, eps=1e-06)" {
		t.Errorf("String %q", s)
	}

	sgd := OptimizerConfig{Kind: OptimizerSGD, WeightDecay: 1e-4, Momentum: 0.9, Nesterov: true}
	opt, err = sgd.New(0.1)
	if err != nil {
		t.Fatal(err)
	}
	if s := opt.(*SGD); s.LR != 0.1 || s.Momentum != 0.9 || s.Dampening != 0 || s.WeightDecay != 1e-4 || !s.Nesterov {
		t.Errorf("SGD: %+v", s)
	}
	if s := sgd.String(); s != "sgd(weight_decay=0.0001, momentum=0.9, nesterov)" {
		t.Errorf("String %q", s)
	}
	if s := (OptimizerConfig{Kind: OptimizerSGD}).String(); s != "sgd" {
		t.Errorf("String of plain SGD %q", s)
	}
	b, err := json.Marshal(sgd)
	if err != nil {
		t.Fatal(err)
	}
	var back OptimizerConfig
	if err := json.Unmarshal(b, &back); err != nil || back != sgd {
		t.Errorf("JSON %s read back as %+v, %v", b, back, err)
	}
	if _, err := sgd.New(math.Inf(1)); err == nil || !strings.Contains(err.Error(), "learning rate") {
		t.Errorf("infinite learning rate: error %v", err)
	}
}

// adamFields returns a's learning rate, betas, eps and weight decay.
func adamFields(a *Adam) [5]float64 { return [5]float64{a.LR, a.Beta1, a.Beta2, a.Eps, a.WeightDecay} }

// TestOptimizerConfigValidate: every invalid setting is an error naming it.
func TestOptimizerConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c    OptimizerConfig
		want string
	}{
		{OptimizerConfig{Kind: "adamw"}, `unknown Kind "adamw"`},
		{OptimizerConfig{Kind: "SGD"}, `unknown Kind "SGD"`},
		{OptimizerConfig{WeightDecay: -1}, "WeightDecay = -1"},
		{OptimizerConfig{Kind: OptimizerSGD, WeightDecay: math.NaN()}, "WeightDecay = NaN"},
		{OptimizerConfig{Beta1: 1}, "Beta1 = 1"},
		{OptimizerConfig{Beta2: -0.5}, "Beta2 = -0.5"},
		{OptimizerConfig{Eps: math.Inf(1)}, "Eps = +Inf"},
		{OptimizerConfig{Momentum: 0.9}, "are SGD's"},
		{OptimizerConfig{Kind: OptimizerAdam, Nesterov: true}, "are SGD's"},
		{OptimizerConfig{Kind: OptimizerSGD, Beta1: 0.9}, "are Adam's"},
		{OptimizerConfig{Kind: OptimizerSGD, Momentum: -0.1}, "Momentum = -0.1"},
		{OptimizerConfig{Kind: OptimizerSGD, Momentum: 0.9, Dampening: 1.5}, "Dampening = 1.5"},
		{OptimizerConfig{Kind: OptimizerSGD, Dampening: 0.1}, "without Momentum"},
		{OptimizerConfig{Kind: OptimizerSGD, Nesterov: true}, "Nesterov needs Momentum > 0"},
		{OptimizerConfig{Kind: OptimizerSGD, Momentum: 0.9, Dampening: 0.1, Nesterov: true}, "Nesterov needs Momentum > 0 and Dampening 0"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one with %q", tc.c, err, tc.want)
		}
		if _, nerr := tc.c.New(0.1); nerr == nil || err == nil || nerr.Error() != err.Error() {
			t.Errorf("%+v: New's error %v, Validate's %v", tc.c, nerr, err)
		}
	}
	for _, c := range []OptimizerConfig{
		{}, {Kind: OptimizerAdam, Beta1: 0.5, Beta2: 0.9, Eps: 1e-6, WeightDecay: 0.1},
		{Kind: OptimizerSGD}, {Kind: OptimizerSGD, Momentum: 0.9, Dampening: 1}, {Kind: OptimizerSGD, Momentum: 0.9, Nesterov: true},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
