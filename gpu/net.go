package gpu

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
)

// net is what the trainers share, and knows no model: the learnable
// parameters and running statistics of a model on an engine, with its
// optimiser (nn.Adam or nn.SGD). Learnable parameters and each slot of the
// optimiser's state (Adam's two moments, SGD's momentum buffer) each live in
// one device allocation (every Param at a 64-element-aligned offset), so the
// optimiser is one kernel launch; running statistics likewise. Each pass
// (one forward and backward over a batch, compiled from the model's tape)
// has its own gradient arena; a step with two passes (two views) sums their
// gradients before the update.
type net struct {
	e    *Engine
	opt  nn.Optimizer // adam or sgd, or nil for predictions
	adam *nn.Adam
	sgd  *nn.SGD

	learn  []*nn.Param
	offs   []int
	pArena *Tensor
	// mArena is Adam's exp_avg or SGD's momentum_buffer, vArena Adam's
	// exp_avg_sq (nil with SGD).
	mArena, vArena *Tensor
	bufs           []*nn.Param
	boffs          []int
	bArena         *Tensor
	// num_batches_tracked counts kept on the host: values at the start and
	// the number of training forwards since.
	counters    []*nn.Param
	counterBase []float32
	forwards    int64
	// optSteps counts the updates the optimiser state has seen: Adam's
	// step (imported with its state), or SGD's steps with momentum (0
	// while the momentum buffers are unset).
	optSteps int64

	params, buffers map[string]*Tensor
	passes          []*pass
	owned           []*Tensor
}

// pass is one pass's parameter gradients: an arena laid out like the
// parameters' and its views by name.
type pass struct {
	gArena *Tensor
	grads  map[string]*Tensor
}

// newState uploads params (learnable ones, buffers and batch-norm
// counters) and opt's state when it has one for every learnable parameter,
// and allocates the optimiser's state and passes gradient arenas: the part
// of a trainer that knows no model. opt is an *nn.Adam or an *nn.SGD.
// Without an optimiser (nil opt, no passes) it holds only the parameters and
// buffers, for predictions.
func newState(e *Engine, params []*nn.Param, passes int, opt nn.Optimizer) (*net, error) {
	nt := &net{e: e, params: map[string]*Tensor{}, buffers: map[string]*Tensor{}}
	slots := 0 // state arenas: Adam's two moments, SGD's momentum buffers
	switch o := opt.(type) {
	case *nn.Adam:
		if o != nil {
			nt.opt, nt.adam, slots = o, o, 2
		}
	case *nn.SGD:
		if o != nil {
			nt.opt, nt.sgd, slots = o, o, 1
		}
	case nil:
	default:
		return nil, fmt.Errorf("gpu: trainer: optimiser %T: the engine runs *nn.Adam and *nn.SGD", opt)
	}
	if e == nil || (nt.opt == nil) != (passes == 0) {
		return nil, errors.New("gpu: trainer: nil engine or optimiser")
	}
	if err := nt.allocState(params, passes, slots); err != nil {
		nt.Close()
		return nil, err
	}
	var err error
	switch {
	case nt.adam != nil:
		err = nt.importAdam()
	case nt.sgd != nil:
		err = nt.importSGD()
	}
	if err != nil {
		nt.Close()
		return nil, err
	}
	return nt, nil
}

func (nt *net) alloc(shape ...int) (*Tensor, error) {
	t, err := nt.e.New(shape...)
	if err != nil {
		return nil, err
	}
	nt.owned = append(nt.owned, t)
	return t, nil
}

// arena lays out ps at 64-element-aligned offsets and returns the offsets
// and total size.
func arena(ps []*nn.Param) ([]int, int) {
	offs := make([]int, len(ps))
	n := 0
	for i, p := range ps {
		offs[i] = n
		n += (len(p.Data()) + 63) &^ 63
	}
	return offs, max(n, 64)
}

// allocState uploads the learnable parameters and running statistics and
// allocates slots arenas of optimiser state (mArena, then vArena) and each
// pass's gradients.
func (nt *net) allocState(ps []*nn.Param, passes, slots int) error {
	for _, p := range ps {
		switch {
		case !p.Buffer:
			nt.learn = append(nt.learn, p)
		case len(p.Data()) == 1 && p.Shape()[0] == 1 && strings.HasSuffix(p.Name, ".num_batches_tracked"):
			nt.counters = append(nt.counters, p)
			nt.counterBase = append(nt.counterBase, p.Data()[0])
		default:
			nt.bufs = append(nt.bufs, p)
		}
	}
	var size int
	nt.offs, size = arena(nt.learn)
	host := make([]float32, size)
	for i, p := range nt.learn {
		copy(host[nt.offs[i]:], p.Data())
	}
	var err error
	if nt.pArena, err = nt.alloc(size); err != nil {
		return err
	}
	if err := nt.e.Upload(nt.pArena, host); err != nil {
		return err
	}
	for _, a := range []**Tensor{&nt.mArena, &nt.vArena}[:slots] {
		if *a, err = nt.alloc(size); err != nil {
			return err
		}
	}
	for i, p := range nt.learn {
		if nt.params[p.Name], err = nt.pArena.View(nt.offs[i], p.Shape()...); err != nil {
			return err
		}
	}
	for range passes {
		p := &pass{grads: map[string]*Tensor{}}
		if p.gArena, err = nt.alloc(size); err != nil {
			return err
		}
		for i, q := range nt.learn {
			if p.grads[q.Name], err = p.gArena.View(nt.offs[i], q.Shape()...); err != nil {
				return err
			}
		}
		nt.passes = append(nt.passes, p)
	}
	nt.boffs, size = arena(nt.bufs)
	host = make([]float32, size)
	for i, p := range nt.bufs {
		copy(host[nt.boffs[i]:], p.Data())
	}
	if nt.bArena, err = nt.alloc(size); err != nil {
		return err
	}
	if err := nt.e.Upload(nt.bArena, host); err != nil {
		return err
	}
	for i, p := range nt.bufs {
		if nt.buffers[p.Name], err = nt.bArena.View(nt.boffs[i], p.Shape()...); err != nil {
			return err
		}
	}
	return nil
}

// importAdam uploads Adam's moments when it has state for every learnable
// parameter, at one step; no state at all starts from zero.
func (nt *net) importAdam() error {
	st := nt.adam.State()
	if len(st) == 0 {
		return nil
	}
	m := make([]float32, nt.mArena.Len())
	v := make([]float32, nt.vArena.Len())
	var step int64 = -1
	for i, p := range nt.learn {
		ea, eq, es := st[p.Name+".exp_avg"], st[p.Name+".exp_avg_sq"], st[p.Name+".step"]
		if ea == nil || eq == nil || es == nil {
			return fmt.Errorf("gpu: trainer: the optimiser has state, but none for %q", p.Name)
		}
		var sv float32
		switch d := es.Data().(type) {
		case float32:
			sv = d
		case []float32:
			if len(d) != 1 {
				return fmt.Errorf("gpu: trainer: optimiser step of %q has %d values", p.Name, len(d))
			}
			sv = d[0]
		default:
			return fmt.Errorf("gpu: trainer: optimiser step of %q is a %T, want float32", p.Name, d)
		}
		s := int64(sv)
		if step >= 0 && s != step {
			return fmt.Errorf("gpu: trainer: optimiser steps differ (%d for %q, %d before); the device keeps one", s, p.Name, step)
		}
		step = s
		for _, c := range []struct {
			src *tensor.Dense
			dst []float32
		}{{ea, m}, {eq, v}} {
			d, ok := c.src.Data().([]float32)
			if !ok || len(d) != len(p.Data()) {
				return fmt.Errorf("gpu: trainer: optimiser state of %q does not match its shape %v", p.Name, p.Shape())
			}
			copy(c.dst[nt.offs[i]:], d)
		}
	}
	if len(st) != 3*len(nt.learn) {
		return fmt.Errorf("gpu: trainer: the optimiser has state for %d entries, the model %d parameters (want 3 entries each)", len(st), len(nt.learn))
	}
	if err := nt.e.Upload(nt.mArena, m); err != nil {
		return err
	}
	if err := nt.e.Upload(nt.vArena, v); err != nil {
		return err
	}
	nt.optSteps = step
	return nil
}

// importSGD uploads SGD's momentum buffers when it has one for every
// learnable parameter; none at all leaves them unset, for the first step
// with momentum to set.
func (nt *net) importSGD() error {
	st := nt.sgd.State()
	if len(st) == 0 {
		return nil
	}
	buf := make([]float32, nt.mArena.Len())
	for i, p := range nt.learn {
		b := st[p.Name+".momentum_buffer"]
		if b == nil {
			return fmt.Errorf("gpu: trainer: the optimiser has state, but none for %q", p.Name)
		}
		d, ok := b.Data().([]float32)
		if !ok || len(d) != len(p.Data()) {
			return fmt.Errorf("gpu: trainer: optimiser state of %q does not match its shape %v", p.Name, p.Shape())
		}
		copy(buf[nt.offs[i]:], d)
	}
	if len(st) != len(nt.learn) {
		return fmt.Errorf("gpu: trainer: the optimiser has state for %d entries, the model %d parameters (want a momentum buffer each)", len(st), len(nt.learn))
	}
	if err := nt.e.Upload(nt.mArena, buf); err != nil {
		return err
	}
	nt.optSteps = 1
	return nil
}

// batchView returns the first m rows (clips) of full.
func batchView(full *Tensor, m int) (*Tensor, error) {
	shape := slices.Clone(full.shape)
	shape[0] = m
	return full.View(0, shape...)
}

// rows is a tensor of up to n rows (one per clip) and its view of the
// first bound rows.
type rows struct{ full, cur *Tensor }

func (r *rows) bind(m int) (err error) {
	r.cur, err = batchView(r.full, m)
	return err
}

// nextStep reads the optimiser's hyperparameters (a schedule may change
// them between steps) and checks them, and returns the update that applies
// them to the parameters with the summed gradients g.
func (nt *net) nextStep() (func(g *Tensor) error, error) {
	if o := nt.adam; o != nil {
		step := AdamStep{LR: o.LR, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay, Step: nt.optSteps + 1}
		if _, err := step.scalars(); err != nil {
			return nil, err
		}
		return func(g *Tensor) error {
			if err := nt.e.Adam(nt.pArena, g, nt.mArena, nt.vArena, step); err != nil {
				return err
			}
			nt.optSteps++
			return nil
		}, nil
	}
	o := nt.sgd
	step := SGDStep{LR: o.LR, Momentum: o.Momentum, Dampening: o.Dampening, WeightDecay: o.WeightDecay, Nesterov: o.Nesterov, First: nt.optSteps == 0}
	if _, err := step.scalars(); err != nil {
		return nil, err
	}
	return func(g *Tensor) error {
		if err := nt.e.SGD(nt.pArena, g, nt.mArena, step); err != nil {
			return err
		}
		if step.Momentum != 0 {
			nt.optSteps++
		}
		return nil
	}, nil
}

// update sums the passes' gradients into the first's, checks that they are
// finite and applies the optimiser's update (from nextStep). A non-finite
// gradient is an error naming the parameter, and changes no parameter.
func (nt *net) update(apply func(g *Tensor) error) error {
	e := nt.e
	g := nt.passes[0].gArena
	for _, p := range nt.passes[1:] {
		if err := e.Add(g, p.gArena, g); err != nil {
			return err
		}
	}
	ok, err := e.AllFinite(g)
	if err != nil {
		return err
	}
	if !ok {
		return nt.nonFiniteGradient()
	}
	return apply(g)
}

// nonFiniteGradient names the first parameter whose gradient is NaN or
// infinite.
func (nt *net) nonFiniteGradient() error {
	g, err := nt.e.ToHost(nt.passes[0].gArena)
	if err != nil {
		return err
	}
	for i, p := range nt.learn {
		for j, v := range g[nt.offs[i] : nt.offs[i]+len(p.Data())] {
			if v-v != 0 {
				return fmt.Errorf("gpu: trainer: gradient of %q has %v at index %d; no parameter was updated", p.Name, v, j)
			}
		}
	}
	return errors.New("gpu: trainer: a gradient is not finite; no parameter was updated")
}

// Engine returns the trainer's engine.
func (nt *net) Engine() *Engine { return nt.e }

// SyncToHost copies the trained state back: parameters and running
// statistics into the model's Params, num_batches_tracked, and the
// optimiser's state (Adam's moments and step, SGD's momentum buffers) into
// the optimiser (replacing its state), so that nn.SaveCheckpoint and CPU
// evaluation see what the device holds.
func (nt *net) SyncToHost() error {
	p, err := nt.e.ToHost(nt.pArena)
	if err != nil {
		return err
	}
	for i, q := range nt.learn {
		copy(q.Data(), p[nt.offs[i]:])
	}
	b, err := nt.e.ToHost(nt.bArena)
	if err != nil {
		return err
	}
	for i, q := range nt.bufs {
		copy(q.Data(), b[nt.boffs[i]:])
	}
	for i, q := range nt.counters {
		q.Data()[0] = nt.counterBase[i] + float32(nt.forwards)
	}
	if nt.optSteps == 0 {
		nt.opt.Reset()
		return nil
	}
	st, err := nt.OptimizerState()
	if err != nil {
		return err
	}
	return nt.opt.SetState(st)
}

// OptimizerState returns the device's optimiser state in the format of the
// optimiser's State: for nn.Adam "<name>.exp_avg", "<name>.exp_avg_sq" and
// "<name>.step", for nn.SGD "<name>.momentum_buffer" (none before the first
// step with momentum), for every learnable parameter.
func (nt *net) OptimizerState() (map[string]*tensor.Dense, error) {
	out := map[string]*tensor.Dense{}
	if nt.optSteps == 0 {
		return out, nil
	}
	arena := func(a *Tensor, slot string) error {
		d, err := nt.e.ToHost(a)
		if err != nil {
			return err
		}
		for i, p := range nt.learn {
			n := len(p.Data())
			out[p.Name+"."+slot] = tensor.New(tensor.WithShape(p.Shape()...), tensor.WithBacking(append([]float32(nil), d[nt.offs[i]:nt.offs[i]+n]...)))
		}
		return nil
	}
	if nt.sgd != nil {
		if err := arena(nt.mArena, "momentum_buffer"); err != nil {
			return nil, err
		}
		return out, nil
	}
	if err := arena(nt.mArena, "exp_avg"); err != nil {
		return nil, err
	}
	if err := arena(nt.vArena, "exp_avg_sq"); err != nil {
		return nil, err
	}
	for _, p := range nt.learn {
		out[p.Name+".step"] = tensor.New(tensor.WithShape(), tensor.WithBacking([]float32{float32(nt.optSteps)}))
	}
	return out, nil
}

// Gradients returns the last step's gradient of every learnable parameter,
// by name (summed over the step's passes).
func (nt *net) Gradients() (map[string][]float32, error) {
	g, err := nt.e.ToHost(nt.passes[0].gArena)
	if err != nil {
		return nil, err
	}
	out := map[string][]float32{}
	for i, p := range nt.learn {
		out[p.Name] = append([]float32(nil), g[nt.offs[i]:nt.offs[i]+len(p.Data())]...)
	}
	return out, nil
}

// Close frees the trainer's device memory. The engine stays open.
func (nt *net) Close() error {
	var first error
	for _, t := range nt.owned {
		if err := nt.e.Free(t); err != nil && first == nil {
			first = err
		}
	}
	nt.owned = nil
	return first
}

// growTo returns s resized to n elements, reallocating only to grow.
func growTo(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
