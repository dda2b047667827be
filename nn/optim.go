package nn

import (
	"fmt"
	"math"
	"sort"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/parallel"
	"github.com/vidssl/vidssl/internal/vec"
)

// optimGrain is the smallest slice of a parameter update worth a goroutine.
const optimGrain = 1 << 15

// Optimizer updates Params in place from their gradients, as the optimisers of
// torch.optim do, and keeps per-Param state (moments, step counts) under the
// Params' names.
//
// Step takes the Params and their gradients in matching order; Buffer Params
// are skipped (their gradient may be nil). A Step either updates every Param
// or none: lengths, shapes, dtypes and finiteness of all gradients are checked
// before the first Param changes. Names must be unique among the learnable
// Params of one call: state is kept by name, so one optimiser can be used with
// any number of graphs that bind the same model.
type Optimizer interface {
	// Step applies one update with gradients given as gorgonia values (each a
	// float32 tensor of its Param's shape), e.g. the values of the nodes
	// gorgonia.Grad returned, after a machine has run; see GradValues.
	Step(params []*Param, grads []G.Value) error
	// StepSlices is Step with gradients as flat slices in row-major order.
	StepSlices(params []*Param, grads [][]float32) error
	// State returns a copy of the optimiser's state as named float32
	// tensors, "<param name>.<slot>", ready for SaveCheckpoint.
	State() map[string]*tensor.Dense
	// SetState replaces the optimiser's state with a copy of state, as
	// returned by State (or read from a checkpoint). Names it does not know
	// are an error.
	SetState(state map[string]*tensor.Dense) error
	// Reset forgets all state, as a newly made optimiser.
	Reset()
}

// GradValues returns the values of nodes, such as the gradient nodes that
// gorgonia.Grad returned, after a machine has run the graph. Values that are
// still unset are nil, which Step reports as an error.
func GradValues(nodes G.Nodes) []G.Value {
	out := make([]G.Value, len(nodes))
	for i, n := range nodes {
		if n != nil {
			out[i] = n.Value()
		}
	}
	return out
}

// Adam is torch.optim.Adam (without amsgrad) with PyTorch 1.13's update rule,
// per Param p with gradient g at step t (counted per Param from 1):
//
//	g  = g + WeightDecay*p            (L2 penalty, when WeightDecay != 0)
//	m  = Beta1*m + (1-Beta1)*g
//	v  = Beta2*v + (1-Beta2)*g*g
//	p  = p - LR/(1-Beta1^t) * m / (sqrt(v)/sqrt(1-Beta2^t) + Eps)
//
// in float32 arithmetic with float64 bias corrections, as PyTorch's
// single-tensor implementation computes it. Its state is "<name>.exp_avg" (m),
// "<name>.exp_avg_sq" (v), each of the Param's shape, and "<name>.step", a
// float32 scalar (exact up to 2^24 steps), as in PyTorch's optimizer state.
//
// Make one with NewAdam (the zero value has betas 0). The fields may be
// changed between steps, e.g. by a learning-rate schedule.
type Adam struct {
	// LR is the learning rate.
	LR float64
	// Beta1 and Beta2 are the decay rates of the first and second moment
	// averages (PyTorch's betas), in [0, 1).
	Beta1, Beta2 float64
	// Eps is added to the denominator for numerical stability.
	Eps float64
	// WeightDecay is the L2 penalty coefficient added to the gradient.
	WeightDecay float64

	state map[string]*adamSlot
}

type adamSlot struct {
	shape   []int
	step    int64
	expAvg  []float32
	expAvgQ []float32
}

// NewAdam returns Adam with learning rate lr and PyTorch's defaults:
// betas (0.9, 0.999), eps 1e-8, no weight decay.
func NewAdam(lr float64) *Adam {
	return &Adam{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
}

func (a *Adam) check() error {
	switch {
	case !(a.LR >= 0) || math.IsInf(a.LR, 0):
		return fmt.Errorf("nn: Adam: invalid learning rate %v", a.LR)
	case !(a.Beta1 >= 0 && a.Beta1 < 1):
		return fmt.Errorf("nn: Adam: invalid beta1 %v, want [0, 1)", a.Beta1)
	case !(a.Beta2 >= 0 && a.Beta2 < 1):
		return fmt.Errorf("nn: Adam: invalid beta2 %v, want [0, 1)", a.Beta2)
	case !(a.Eps >= 0) || math.IsInf(a.Eps, 0):
		return fmt.Errorf("nn: Adam: invalid eps %v", a.Eps)
	case !(a.WeightDecay >= 0) || math.IsInf(a.WeightDecay, 0):
		return fmt.Errorf("nn: Adam: invalid weight decay %v", a.WeightDecay)
	}
	return nil
}

// Step applies one Adam update; see [Optimizer].
func (a *Adam) Step(params []*Param, grads []G.Value) error {
	if err := a.check(); err != nil {
		return err
	}
	ups, err := valueGrads("Adam", params, grads)
	if err != nil {
		return err
	}
	return a.apply(ups)
}

// StepSlices applies one Adam update with flat gradients; see [Optimizer].
func (a *Adam) StepSlices(params []*Param, grads [][]float32) error {
	if err := a.check(); err != nil {
		return err
	}
	ups, err := sliceGrads("Adam", params, grads)
	if err != nil {
		return err
	}
	return a.apply(ups)
}

func (a *Adam) apply(ups []update) error {
	// Check existing state before changing anything.
	for _, u := range ups {
		if s, ok := a.state[u.p.Name]; ok && len(s.expAvg) != len(u.data) {
			return fmt.Errorf("nn: Adam: state of %q has %d elements, the Param %v holds %d", u.p.Name, len(s.expAvg), s.shape, len(u.data))
		}
	}
	if a.state == nil {
		a.state = map[string]*adamSlot{}
	}
	for _, u := range ups {
		s, ok := a.state[u.p.Name]
		if !ok {
			n := len(u.data)
			s = &adamSlot{shape: u.p.Shape(), expAvg: make([]float32, n), expAvgQ: make([]float32, n)}
			a.state[u.p.Name] = s
		}
		s.step++
		c := vec.NewAdamCoeffs(a.LR, a.Beta1, a.Beta2, a.Eps, a.WeightDecay, s.step)
		pd, g, m, v := u.data, u.grad, s.expAvg, s.expAvgQ
		parallel.For(len(pd), optimGrain, func(lo, hi int) {
			vec.Adam(pd[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], c)
		})
	}
	return nil
}

// State returns a copy of Adam's state; see [Optimizer].
func (a *Adam) State() map[string]*tensor.Dense {
	out := map[string]*tensor.Dense{}
	for name, s := range a.state {
		out[name+".exp_avg"] = denseCopy(s.shape, s.expAvg)
		out[name+".exp_avg_sq"] = denseCopy(s.shape, s.expAvgQ)
		out[name+".step"] = tensor.New(tensor.WithShape(), tensor.WithBacking([]float32{float32(s.step)}))
	}
	return out
}

// SetState replaces Adam's state; see [Optimizer]. Every Param needs all
// three of exp_avg, exp_avg_sq (of one shape) and step (a positive integer).
func (a *Adam) SetState(state map[string]*tensor.Dense) error {
	slots := map[string]*adamSlot{}
	seen := map[string]int{}
	for _, key := range sortedKeys(state) {
		name, slot, ok := cutSlot(key, "exp_avg_sq", "exp_avg", "step")
		if !ok {
			return fmt.Errorf("nn: Adam: set state: unknown entry %q, want <param>.exp_avg, .exp_avg_sq or .step", key)
		}
		d, shape, err := denseFloat32s(state[key])
		if err != nil {
			return fmt.Errorf("nn: Adam: set state: %q: %w", key, err)
		}
		s := slots[name]
		if s == nil {
			s = &adamSlot{}
			slots[name] = s
		}
		seen[name]++
		switch slot {
		case "step":
			if len(d) != 1 || !(d[0] >= 1) || d[0] != float32(math.Trunc(float64(d[0]))) || math.IsInf(float64(d[0]), 0) {
				return fmt.Errorf("nn: Adam: set state: %q must hold one positive integer, got %v", key, d)
			}
			s.step = int64(d[0])
		case "exp_avg":
			s.shape, s.expAvg = shape, append([]float32(nil), d...)
		case "exp_avg_sq":
			s.expAvgQ = append([]float32(nil), d...)
			if s.shape == nil {
				s.shape = shape
			}
		}
	}
	for name, s := range slots {
		if seen[name] != 3 || s.expAvg == nil || s.expAvgQ == nil || s.step == 0 {
			return fmt.Errorf("nn: Adam: set state: %q needs exp_avg, exp_avg_sq and step", name)
		}
		if len(s.expAvg) != len(s.expAvgQ) {
			return fmt.Errorf("nn: Adam: set state: %q: exp_avg has %d elements, exp_avg_sq %d", name, len(s.expAvg), len(s.expAvgQ))
		}
	}
	a.state = slots
	return nil
}

// Reset forgets Adam's state.
func (a *Adam) Reset() { a.state = nil }

// SGD is torch.optim.SGD with PyTorch 1.13's update rule, per Param p with
// gradient g:
//
//	g = g + WeightDecay*p                          (when WeightDecay != 0)
//	b = g on the first step, else Momentum*b + (1-Dampening)*g
//	g = g + Momentum*b if Nesterov, else b         (when Momentum != 0)
//	p = p - LR*g
//
// in float32 arithmetic. With momentum its state is "<name>.momentum_buffer"
// (b), of the Param's shape; without it SGD has no state.
type SGD struct {
	// LR is the learning rate.
	LR float64
	// Momentum is the momentum factor (0: plain gradient descent).
	Momentum float64
	// Dampening damps the gradient's contribution to the momentum buffer.
	Dampening float64
	// WeightDecay is the L2 penalty coefficient added to the gradient.
	WeightDecay float64
	// Nesterov selects Nesterov momentum (needs Momentum > 0, Dampening 0).
	Nesterov bool

	state map[string]*sgdSlot
}

type sgdSlot struct {
	shape []int
	buf   []float32
}

// NewSGD returns SGD with learning rate lr and the given momentum, no
// dampening, no weight decay and no Nesterov momentum.
func NewSGD(lr, momentum float64) *SGD { return &SGD{LR: lr, Momentum: momentum} }

func (o *SGD) check() error {
	switch {
	case !(o.LR >= 0) || math.IsInf(o.LR, 0):
		return fmt.Errorf("nn: SGD: invalid learning rate %v", o.LR)
	case !(o.Momentum >= 0) || math.IsInf(o.Momentum, 0):
		return fmt.Errorf("nn: SGD: invalid momentum %v", o.Momentum)
	case math.IsNaN(o.Dampening) || math.IsInf(o.Dampening, 0):
		return fmt.Errorf("nn: SGD: invalid dampening %v", o.Dampening)
	case !(o.WeightDecay >= 0) || math.IsInf(o.WeightDecay, 0):
		return fmt.Errorf("nn: SGD: invalid weight decay %v", o.WeightDecay)
	case o.Nesterov && (o.Momentum <= 0 || o.Dampening != 0):
		return fmt.Errorf("nn: SGD: Nesterov momentum needs a positive momentum and zero dampening")
	}
	return nil
}

// Step applies one SGD update; see [Optimizer].
func (o *SGD) Step(params []*Param, grads []G.Value) error {
	if err := o.check(); err != nil {
		return err
	}
	ups, err := valueGrads("SGD", params, grads)
	if err != nil {
		return err
	}
	return o.apply(ups)
}

// StepSlices applies one SGD update with flat gradients; see [Optimizer].
func (o *SGD) StepSlices(params []*Param, grads [][]float32) error {
	if err := o.check(); err != nil {
		return err
	}
	ups, err := sliceGrads("SGD", params, grads)
	if err != nil {
		return err
	}
	return o.apply(ups)
}

func (o *SGD) apply(ups []update) error {
	if o.Momentum != 0 {
		for _, u := range ups {
			if s, ok := o.state[u.p.Name]; ok && len(s.buf) != len(u.data) {
				return fmt.Errorf("nn: SGD: momentum buffer of %q has %d elements, the Param %v holds %d", u.p.Name, len(s.buf), s.shape, len(u.data))
			}
		}
	}
	if o.state == nil {
		o.state = map[string]*sgdSlot{}
	}
	c := vec.SGDCoeffs{NegLR: float32(-o.LR), WeightDecay: float32(o.WeightDecay), Momentum: float32(o.Momentum), OneMinusDampening: float32(1 - o.Dampening), Nesterov: o.Nesterov}
	for _, u := range ups {
		pd, g := u.data, u.grad
		if o.Momentum == 0 {
			parallel.For(len(pd), optimGrain, func(lo, hi int) { vec.SGD(pd[lo:hi], g[lo:hi], nil, c) })
			continue
		}
		s, ok := o.state[u.p.Name]
		c.First = !ok
		if c.First {
			s = &sgdSlot{shape: u.p.Shape(), buf: make([]float32, len(pd))}
			o.state[u.p.Name] = s
		}
		parallel.For(len(pd), optimGrain, func(lo, hi int) { vec.SGD(pd[lo:hi], g[lo:hi], s.buf[lo:hi], c) })
	}
	return nil
}

// State returns a copy of SGD's momentum buffers; see [Optimizer].
func (o *SGD) State() map[string]*tensor.Dense {
	out := map[string]*tensor.Dense{}
	for name, s := range o.state {
		out[name+".momentum_buffer"] = denseCopy(s.shape, s.buf)
	}
	return out
}

// SetState replaces SGD's momentum buffers; see [Optimizer].
func (o *SGD) SetState(state map[string]*tensor.Dense) error {
	slots := map[string]*sgdSlot{}
	for _, key := range sortedKeys(state) {
		name, _, ok := cutSlot(key, "momentum_buffer")
		if !ok {
			return fmt.Errorf("nn: SGD: set state: unknown entry %q, want <param>.momentum_buffer", key)
		}
		d, shape, err := denseFloat32s(state[key])
		if err != nil {
			return fmt.Errorf("nn: SGD: set state: %q: %w", key, err)
		}
		slots[name] = &sgdSlot{shape: shape, buf: append([]float32(nil), d...)}
	}
	o.state = slots
	return nil
}

// Reset forgets SGD's momentum buffers.
func (o *SGD) Reset() { o.state = nil }

// update is one learnable Param of a Step with its data and gradient.
type update struct {
	p    *Param
	data []float32
	grad []float32
}

// prepare checks what every update needs before any Param changes (counts,
// shapes, unique names, finite gradients) and pairs each learnable Param
// with its data and flat gradient; grad converts the i-th gradient.
func prepare(opt string, params []*Param, ngrads int, grad func(i int, p *Param, shape []int) ([]float32, error)) ([]update, error) {
	if ngrads != len(params) {
		return nil, fmt.Errorf("nn: %s: %d gradients for %d Params", opt, ngrads, len(params))
	}
	names := make(map[string]bool, len(params))
	ups := make([]update, 0, len(params))
	for i, p := range params {
		if p == nil {
			return nil, fmt.Errorf("nn: %s: Param %d is nil", opt, i)
		}
		if p.Buffer {
			continue
		}
		if names[p.Name] {
			return nil, fmt.Errorf("nn: %s: Param name %q appears twice", opt, p.Name)
		}
		names[p.Name] = true
		d, shape, err := denseFloat32s(p.Value)
		if err != nil {
			return nil, fmt.Errorf("nn: %s: Param %q: %w", opt, p.Name, err)
		}
		g, err := grad(i, p, shape)
		if err != nil {
			return nil, err
		}
		if len(g) != len(d) {
			return nil, fmt.Errorf("nn: %s: gradient of %q has %d elements, the Param %v holds %d", opt, p.Name, len(g), shape, len(d))
		}
		ups = append(ups, update{p: p, data: d, grad: g})
	}
	for _, u := range ups {
		if j := vec.FirstNonFinite(u.grad); j >= 0 {
			return nil, fmt.Errorf("nn: %s: gradient of %q has %v at index %d; no Param was updated", opt, u.p.Name, u.grad[j], j)
		}
	}
	return ups, nil
}

// valueGrads prepares an update from gorgonia gradient values.
func valueGrads(opt string, params []*Param, grads []G.Value) ([]update, error) {
	return prepare(opt, params, len(grads), func(i int, p *Param, pshape []int) ([]float32, error) {
		if grads[i] == nil {
			return nil, fmt.Errorf("nn: %s: gradient of %q is nil (has the machine run?)", opt, p.Name)
		}
		var (
			d     []float32
			shape []int
			err   error
		)
		switch v := grads[i].(type) {
		case *tensor.Dense:
			d, shape, err = denseFloat32s(v)
		case tensor.Tensor:
			var ok bool
			if d, ok = v.Data().([]float32); !ok || v.RequiresIterator() || len(d) != v.Shape().TotalSize() {
				err = fmt.Errorf("a %v %T, want a contiguous float32 tensor", v.Dtype(), v)
			}
			shape = v.Shape().Clone()
		case *G.F32:
			d, shape = []float32{float32(*v)}, []int{}
		default:
			err = fmt.Errorf("a %T, want a float32 tensor", v)
		}
		if err != nil {
			return nil, fmt.Errorf("nn: %s: gradient of %q: %w", opt, p.Name, err)
		}
		if !sameStateShape(shape, pshape) {
			return nil, fmt.Errorf("nn: %s: gradient of %q has shape %v, the Param %v", opt, p.Name, shape, pshape)
		}
		return d, nil
	})
}

// sliceGrads prepares an update from flat gradients.
func sliceGrads(opt string, params []*Param, grads [][]float32) ([]update, error) {
	return prepare(opt, params, len(grads), func(i int, p *Param, _ []int) ([]float32, error) {
		if grads[i] == nil {
			return nil, fmt.Errorf("nn: %s: gradient of %q is nil", opt, p.Name)
		}
		return grads[i], nil
	})
}

// denseFloat32s returns the contiguous float32 data of t (a scalar included)
// and its shape.
func denseFloat32s(t *tensor.Dense) ([]float32, []int, error) {
	if t == nil {
		return nil, nil, fmt.Errorf("tensor is nil")
	}
	if t.Dtype() != tensor.Float32 {
		return nil, nil, fmt.Errorf("dtype %v, want float32", t.Dtype())
	}
	if t.RequiresIterator() {
		return nil, nil, fmt.Errorf("tensor is not contiguous")
	}
	n := t.Shape().TotalSize()
	d := t.Float32s()
	if len(d) < n {
		return nil, nil, fmt.Errorf("tensor of shape %v holds %d values", t.Shape(), len(d))
	}
	return d[:n], []int(t.Shape().Clone()), nil
}

// denseCopy returns a float32 tensor of the given shape holding a copy of d.
func denseCopy(shape []int, d []float32) *tensor.Dense {
	return tensor.New(tensor.WithShape(append([]int(nil), shape...)...), tensor.WithBacking(append([]float32(nil), d...)))
}

// sameStateShape reports whether a and b are the same shape, taking a scalar
// and a one-element vector as the same (PyTorch stores counters as scalars).
func sameStateShape(a, b []int) bool {
	if len(a) == len(b) {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	return (len(a) == 0 && len(b) == 1 && b[0] == 1) || (len(b) == 0 && len(a) == 1 && a[0] == 1)
}

// cutSlot splits "<name>.<slot>" for one of the given slots, trying them in
// order (put a slot before any slot that is its suffix).
func cutSlot(key string, slots ...string) (name, slot string, ok bool) {
	for _, s := range slots {
		if n, found := strings.CutSuffix(key, "."+s); found && n != "" {
			return n, s, true
		}
	}
	return "", "", false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
