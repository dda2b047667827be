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
// parameters and running statistics of a model on an engine, with Adam.
// Learnable parameters and Adam moments each live in one device allocation
// (every Param at a 64-element-aligned offset), so the optimiser is one
// kernel launch; running statistics likewise. Each pass (one forward and
// backward over a batch, compiled from the model's tape) has its own
// gradient arena; a step with two passes (two views) sums their gradients
// before Adam.
type net struct {
	e   *Engine
	opt *nn.Adam

	learn                  []*nn.Param
	offs                   []int
	pArena, mArena, vArena *Tensor
	bufs                   []*nn.Param
	boffs                  []int
	bArena                 *Tensor
	// num_batches_tracked counts kept on the host: values at the start and
	// the number of training forwards since.
	counters    []*nn.Param
	counterBase []float32
	forwards    int64
	adamStep    int64

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
// and allocates Adam's moments and passes gradient arenas: the part of a
// trainer that knows no model. Without an optimiser (nil opt, no passes)
// it holds only the parameters and buffers, for predictions.
func newState(e *Engine, params []*nn.Param, passes int, opt *nn.Adam) (*net, error) {
	if e == nil || (opt == nil) != (passes == 0) {
		return nil, errors.New("gpu: trainer: nil engine or optimiser")
	}
	nt := &net{e: e, opt: opt, params: map[string]*Tensor{}, buffers: map[string]*Tensor{}}
	if err := nt.allocState(params, passes); err != nil {
		nt.Close()
		return nil, err
	}
	if opt == nil {
		return nt, nil
	}
	if err := nt.importAdam(); err != nil {
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
// allocates Adam's moments and each pass's gradients.
func (nt *net) allocState(ps []*nn.Param, passes int) error {
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
	for _, a := range []**Tensor{&nt.mArena, &nt.vArena} {
		if passes == 0 {
			break
		}
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

// importAdam uploads opt's moments when it has state for every learnable
// parameter, at one step; no state at all starts from zero.
func (nt *net) importAdam() error {
	st := nt.opt.State()
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
	nt.adamStep = step
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

// nextAdamStep returns the hyperparameters of the next Adam step, checked.
func (nt *net) nextAdamStep() (AdamStep, error) {
	o := nt.opt
	step := AdamStep{LR: o.LR, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay, Step: nt.adamStep + 1}
	_, err := step.scalars()
	return step, err
}

// update sums the passes' gradients into the first's, checks that they are
// finite and runs Adam. A non-finite gradient is an error naming the
// parameter, and changes no parameter.
func (nt *net) update(step AdamStep) error {
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
	if err := e.Adam(nt.pArena, g, nt.mArena, nt.vArena, step); err != nil {
		return err
	}
	nt.adamStep++
	return nil
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
// statistics into the model's Params, num_batches_tracked, and the Adam
// moments and step into the optimiser (replacing its state), so that
// nn.SaveCheckpoint and CPU evaluation see what the device holds.
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
	if nt.adamStep == 0 {
		nt.opt.Reset()
		return nil
	}
	st, err := nt.AdamState()
	if err != nil {
		return err
	}
	return nt.opt.SetState(st)
}

// AdamState returns the device's Adam state in nn.Adam's format:
// "<name>.exp_avg", "<name>.exp_avg_sq" and "<name>.step" for every
// learnable parameter.
func (nt *net) AdamState() (map[string]*tensor.Dense, error) {
	m, err := nt.e.ToHost(nt.mArena)
	if err != nil {
		return nil, err
	}
	v, err := nt.e.ToHost(nt.vArena)
	if err != nil {
		return nil, err
	}
	out := map[string]*tensor.Dense{}
	for i, p := range nt.learn {
		n := len(p.Data())
		out[p.Name+".exp_avg"] = tensor.New(tensor.WithShape(p.Shape()...), tensor.WithBacking(append([]float32(nil), m[nt.offs[i]:nt.offs[i]+n]...)))
		out[p.Name+".exp_avg_sq"] = tensor.New(tensor.WithShape(p.Shape()...), tensor.WithBacking(append([]float32(nil), v[nt.offs[i]:nt.offs[i]+n]...)))
		out[p.Name+".step"] = tensor.New(tensor.WithShape(), tensor.WithBacking([]float32{float32(nt.adamStep)}))
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
