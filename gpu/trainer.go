package gpu

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// Trainer is resnet3d.NewClassifierTrainer's training step on an Engine:
// forward in training mode, BCEWithLogits with pos_weight on the single
// logit, backward and Adam, all on the engine. The model's parameters,
// batch-norm buffers and Adam moments live on the engine between steps;
// SyncToHost copies them back into the model's Params and the nn.Adam, so
// that checkpoints and CPU evaluation see the trained state.
type Trainer struct {
	e          *Engine
	m          *resnet3d.Model
	opt        *nn.Adam
	n, t, h, w int
	posWeight  float32
	plan       r3dPlan

	// Learnable parameters, their gradients and Adam moments, each one
	// allocation with every Param at a 64-element-aligned offset.
	learn                          []*nn.Param
	offs                           []int
	pArena, gArena, mArena, vArena *Tensor
	// Running statistics, likewise.
	bufs   []*nn.Param
	boffs  []int
	bArena *Tensor
	// num_batches_tracked counts kept on the host: values at the start and
	// the number of training forwards since.
	counters    []*nn.Param
	counterBase []float32
	forwards    int64
	adamStep    int64

	params, grads, buffers map[string]*Tensor

	// Activations for the batch size bound (see bind), views of the
	// first bound clips of the full-size tensors in full.
	bound                          int
	x, y, dlogits, logits, dropped *Tensor
	feat, dfeat                    *Tensor
	full                           struct{ x, y, dlogits, logits, dropped, feat, dfeat *Tensor }
	stem                           *convBNState
	blocks                         []*blockState
	scratch                        [4]*Tensor
	owned                          []*Tensor

	// Dropout on the logit (SetLogitDropout).
	dropP         float64
	dropRng       *rand.Rand
	mask, hostBuf []float32
}

// convBNState is one conv+bn layer's tensors: weight, gradients, the conv
// output c (the batch norm's input) and the batch norm's output y (views
// for the bound batch size of cFull and yFull).
type convBNState struct {
	spec          convSpec
	w, dw         *Tensor
	bn            BatchNorm
	dgamma, dbeta *Tensor
	c, y          *Tensor
	cFull, yFull  *Tensor
}

type blockState struct {
	in                 *Tensor
	conv1, conv2, down *convBNState
}

// NewTrainer prepares a binary-classification training step on e for
// batches of up to n clips of t x h x w, as resnet3d.NewClassifierTrainer
// does on the CPU: the model must be an R3D (resnet3d.New's structure) with
// NumClasses == 1. It uploads the model's parameters and buffers, and opt's
// state when it has one for every parameter (all at the same step), and
// allocates every activation, so that a batch that does not fit in device
// memory fails here. opt's hyperparameters are read at every Step, so a
// learning-rate schedule may change them.
func NewTrainer(e *Engine, m *resnet3d.Model, n, t, h, w int, posWeight float32, opt *nn.Adam) (tr *Trainer, err error) {
	if m == nil || opt == nil || e == nil {
		return nil, errors.New("gpu: trainer: nil engine, model or optimiser")
	}
	if m.Config.NumClasses != 1 {
		return nil, fmt.Errorf("gpu: trainer: model has %d classes, want 1", m.Config.NumClasses)
	}
	if n <= 0 || t <= 0 || h <= 0 || w <= 0 {
		return nil, fmt.Errorf("gpu: trainer: batch (%d, %d, %d, %d), want positive sizes", n, t, h, w)
	}
	if pw := float64(posWeight); math.IsNaN(pw) || math.IsInf(pw, 0) || pw < 0 {
		return nil, fmt.Errorf("gpu: trainer: pos_weight %v: want a finite value >= 0", posWeight)
	}
	plan := planR3D(m.Config)
	if _, err := plan.checkParams(m.Params()); err != nil {
		return nil, err
	}
	tr = &Trainer{e: e, m: m, opt: opt, n: n, t: t, h: h, w: w, posWeight: posWeight, plan: plan,
		params: map[string]*Tensor{}, grads: map[string]*Tensor{}, buffers: map[string]*Tensor{}}
	made := tr
	defer func() {
		if err != nil {
			made.Close()
		}
	}()
	if err := tr.allocState(m.Params()); err != nil {
		return nil, err
	}
	if err := tr.importAdam(); err != nil {
		return nil, err
	}
	if err := tr.allocActivations(); err != nil {
		return nil, err
	}
	return tr, nil
}

func (tr *Trainer) alloc(shape ...int) (*Tensor, error) {
	t, err := tr.e.New(shape...)
	if err != nil {
		return nil, err
	}
	tr.owned = append(tr.owned, t)
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
// allocates gradients and moments.
func (tr *Trainer) allocState(ps []*nn.Param) error {
	for _, p := range ps {
		switch {
		case !p.Buffer:
			tr.learn = append(tr.learn, p)
		case len(p.Data()) == 1 && p.Shape()[0] == 1 && strings.HasSuffix(p.Name, ".num_batches_tracked"):
			tr.counters = append(tr.counters, p)
			tr.counterBase = append(tr.counterBase, p.Data()[0])
		default:
			tr.bufs = append(tr.bufs, p)
		}
	}
	var size int
	tr.offs, size = arena(tr.learn)
	host := make([]float32, size)
	for i, p := range tr.learn {
		copy(host[tr.offs[i]:], p.Data())
	}
	var err error
	if tr.pArena, err = tr.alloc(size); err != nil {
		return err
	}
	if err := tr.e.Upload(tr.pArena, host); err != nil {
		return err
	}
	for _, a := range []**Tensor{&tr.gArena, &tr.mArena, &tr.vArena} {
		if *a, err = tr.alloc(size); err != nil {
			return err
		}
	}
	for i, p := range tr.learn {
		if tr.params[p.Name], err = tr.pArena.View(tr.offs[i], p.Shape()...); err != nil {
			return err
		}
		if tr.grads[p.Name], err = tr.gArena.View(tr.offs[i], p.Shape()...); err != nil {
			return err
		}
	}
	tr.boffs, size = arena(tr.bufs)
	host = make([]float32, size)
	for i, p := range tr.bufs {
		copy(host[tr.boffs[i]:], p.Data())
	}
	if tr.bArena, err = tr.alloc(size); err != nil {
		return err
	}
	if err := tr.e.Upload(tr.bArena, host); err != nil {
		return err
	}
	for i, p := range tr.bufs {
		if tr.buffers[p.Name], err = tr.bArena.View(tr.boffs[i], p.Shape()...); err != nil {
			return err
		}
	}
	return nil
}

// importAdam uploads opt's moments when it has state for every learnable
// parameter, at one step; no state at all starts from zero.
func (tr *Trainer) importAdam() error {
	st := tr.opt.State()
	if len(st) == 0 {
		return nil
	}
	m := make([]float32, tr.mArena.Len())
	v := make([]float32, tr.vArena.Len())
	var step int64 = -1
	for i, p := range tr.learn {
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
			copy(c.dst[tr.offs[i]:], d)
		}
	}
	if len(st) != 3*len(tr.learn) {
		return fmt.Errorf("gpu: trainer: the optimiser has state for %d entries, the model %d parameters (want 3 entries each)", len(st), len(tr.learn))
	}
	if err := tr.e.Upload(tr.mArena, m); err != nil {
		return err
	}
	if err := tr.e.Upload(tr.vArena, v); err != nil {
		return err
	}
	tr.adamStep = step
	return nil
}

// newConvBN sets up a conv+bn layer for input shape in.
func (tr *Trainer) newConvBN(spec convSpec, in []int) (*convBNState, error) {
	out, err := ConvOutputShape(in, []int{spec.cout, spec.cin, spec.kernel[0], spec.kernel[1], spec.kernel[2]}, spec.params())
	if err != nil {
		return nil, fmt.Errorf("gpu: trainer: %s: %w (input %v too small?)", spec.conv, err, in)
	}
	if numel(out)/spec.cout < 2 {
		return nil, fmt.Errorf("gpu: trainer: %s: output %v has one value per channel; batch norm needs more when training", spec.conv, out)
	}
	s := &convBNState{spec: spec, w: tr.params[spec.conv+".weight"], dw: tr.grads[spec.conv+".weight"]}
	s.bn = BatchNorm{
		Weight: tr.params[spec.bn+".weight"], Bias: tr.params[spec.bn+".bias"],
		RunningMean: tr.buffers[spec.bn+".running_mean"], RunningVar: tr.buffers[spec.bn+".running_var"],
		Eps: 1e-5, Momentum: 0.1,
	}
	s.dgamma, s.dbeta = tr.grads[spec.bn+".weight"], tr.grads[spec.bn+".bias"]
	if s.bn.SaveMean, err = tr.alloc(spec.cout); err != nil {
		return nil, err
	}
	if s.bn.SaveInvStd, err = tr.alloc(spec.cout); err != nil {
		return nil, err
	}
	if s.cFull, err = tr.alloc(out...); err != nil {
		return nil, err
	}
	if s.yFull, err = tr.alloc(out...); err != nil {
		return nil, err
	}
	s.c, s.y = s.cFull, s.yFull
	return s, nil
}

func (tr *Trainer) allocActivations() error {
	cin := tr.m.Config.InChannels
	f := &tr.full
	var err error
	if f.x, err = tr.alloc(tr.n, cin, tr.t, tr.h, tr.w); err != nil {
		return err
	}
	if tr.stem, err = tr.newConvBN(tr.plan.stem, f.x.shape); err != nil {
		return err
	}
	cur := tr.stem.y
	maxAct := cur.Len()
	for _, b := range tr.plan.blocks {
		bs := &blockState{}
		if bs.conv1, err = tr.newConvBN(b.conv1, cur.shape); err != nil {
			return err
		}
		if bs.conv2, err = tr.newConvBN(b.conv2, bs.conv1.y.shape); err != nil {
			return err
		}
		if b.down != nil {
			if bs.down, err = tr.newConvBN(*b.down, cur.shape); err != nil {
				return err
			}
		}
		tr.blocks = append(tr.blocks, bs)
		cur = bs.conv2.y
		maxAct = max(maxAct, cur.Len())
	}
	for i := range tr.scratch {
		if tr.scratch[i], err = tr.alloc(maxAct); err != nil {
			return err
		}
	}
	for _, a := range []**Tensor{&f.y, &f.logits, &f.dlogits, &f.dropped} {
		if *a, err = tr.alloc(tr.n, 1); err != nil {
			return err
		}
	}
	if f.feat, err = tr.alloc(tr.n, tr.plan.features); err != nil {
		return err
	}
	if f.dfeat, err = tr.alloc(tr.n, tr.plan.features); err != nil {
		return err
	}
	return tr.bind(tr.n)
}

// bind points the activations at the first m clips of the full-size
// tensors, so that a step can train on a batch smaller than the one the
// trainer was made for (an epoch's last batch, say).
func (tr *Trainer) bind(m int) error {
	if m == tr.bound {
		return nil
	}
	view := func(full *Tensor) (*Tensor, error) {
		shape := slices.Clone(full.shape)
		shape[0] = m
		return full.View(0, shape...)
	}
	bindConvBN := func(s *convBNState) error {
		var err error
		if s.c, err = view(s.cFull); err != nil {
			return err
		}
		s.y, err = view(s.yFull)
		return err
	}
	f := &tr.full
	var err error
	for _, p := range []struct{ dst, src **Tensor }{
		{&tr.x, &f.x}, {&tr.y, &f.y}, {&tr.logits, &f.logits}, {&tr.dlogits, &f.dlogits},
		{&tr.dropped, &f.dropped}, {&tr.feat, &f.feat}, {&tr.dfeat, &f.dfeat},
	} {
		if *p.dst, err = view(*p.src); err != nil {
			return err
		}
	}
	if err := bindConvBN(tr.stem); err != nil {
		return err
	}
	cur := tr.stem.y
	for _, b := range tr.blocks {
		b.in = cur
		for _, s := range []*convBNState{b.conv1, b.conv2, b.down} {
			if s == nil {
				continue
			}
			if err := bindConvBN(s); err != nil {
				return err
			}
		}
		cur = b.conv2.y
	}
	tr.bound = m
	return nil
}

// batchNormFits says whether every batch norm of the bound batch sees more
// than one value per channel, as training needs.
func (tr *Trainer) batchNormFits() error {
	layers := []*convBNState{tr.stem}
	for _, b := range tr.blocks {
		layers = append(layers, b.conv1, b.conv2, b.down)
	}
	for _, s := range layers {
		if s != nil && s.c.Len()/s.spec.cout < 2 {
			return fmt.Errorf("gpu: trainer: %s: a batch of %d clips gives output %v, one value per channel; batch norm needs more when training", s.spec.conv, tr.bound, s.c.shape)
		}
	}
	return nil
}

// SetLogitDropout makes every following Step drop the logit of each clip
// with probability p (scaling the others by 1/(1-p)) before the loss, as
// nn.Dropout on the CPU, with masks drawn from rng by nn.DropoutMask: with
// an rng seeded like the CPU graph's Rand, the GPU drops the same clips.
// p = 0 turns dropout off.
func (tr *Trainer) SetLogitDropout(p float64, rng *rand.Rand) error {
	if !(p >= 0 && p < 1) {
		return fmt.Errorf("gpu: trainer: logit dropout %v, want [0, 1)", p)
	}
	if p > 0 && rng == nil {
		return fmt.Errorf("gpu: trainer: logit dropout %v without a random source", p)
	}
	tr.dropP, tr.dropRng = p, rng
	return nil
}

// droppedBCE is BCEWithLogits on the logits after dropout: the n logits
// come to the host, are masked and go back, and the loss's gradient is
// masked on the way back (n values each way; the step waits for the loss
// anyway).
func (tr *Trainer) droppedBCE() (float32, error) {
	e, m := tr.e, tr.bound
	tr.mask = slices.Grow(tr.mask[:0], m)[:m]
	tr.hostBuf = slices.Grow(tr.hostBuf[:0], m)[:m]
	z := tr.hostBuf
	if err := e.Download(z, tr.logits); err != nil {
		return 0, err
	}
	nn.DropoutMask(tr.dropRng, tr.dropP, tr.mask)
	for i := range z {
		z[i] *= tr.mask[i]
	}
	if err := e.Upload(tr.dropped, z); err != nil {
		return 0, err
	}
	loss, err := e.BCEWithLogits(tr.dropped, tr.y, tr.dlogits, tr.posWeight)
	if err != nil {
		return loss, err
	}
	if err := e.Download(z, tr.dlogits); err != nil {
		return loss, err
	}
	for i := range z {
		z[i] *= tr.mask[i]
	}
	return loss, e.Upload(tr.dlogits, z)
}

// Engine returns the trainer's engine.
func (tr *Trainer) Engine() *Engine { return tr.e }

// Step runs one training step on a batch: x holds m <= n clips (m,
// InChannels, t, h, w) in NCDHW order and y their m 0/1 (or soft) targets.
// It returns the loss. As on the CPU, a NaN or infinite loss or gradient is an error
// and leaves the parameters unchanged (the batch-norm running statistics
// are updated by the forward pass all the same).
func (tr *Trainer) Step(ctx context.Context, x, y []float32) (float32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	clip := tr.full.x.Len() / tr.n
	if m := len(y); m < 1 || m > tr.n || len(x) != m*clip {
		return 0, fmt.Errorf("gpu: trainer: batch of %d values and %d targets, want m x %d values (clips of %v) and m targets, 1 <= m <= %d", len(x), len(y), clip, tr.full.x.shape[1:], tr.n)
	}
	if err := tr.bind(len(y)); err != nil {
		return 0, err
	}
	if err := tr.batchNormFits(); err != nil {
		return 0, err
	}
	step := AdamStep{LR: tr.opt.LR, Beta1: tr.opt.Beta1, Beta2: tr.opt.Beta2, Eps: tr.opt.Eps, WeightDecay: tr.opt.WeightDecay, Step: tr.adamStep + 1}
	if _, err := step.scalars(); err != nil {
		return 0, err
	}
	e := tr.e
	if err := e.Upload(tr.x, x); err != nil {
		return 0, err
	}
	if err := e.Upload(tr.y, y); err != nil {
		return 0, err
	}
	if err := tr.forward(true); err != nil {
		return 0, err
	}
	tr.forwards++
	var loss float32
	var err error
	if tr.dropP > 0 {
		loss, err = tr.droppedBCE()
	} else {
		loss, err = e.BCEWithLogits(tr.logits, tr.y, tr.dlogits, tr.posWeight)
	}
	if err != nil {
		return loss, err
	}
	if err := tr.backward(); err != nil {
		return loss, err
	}
	ok, err := e.AllFinite(tr.gArena)
	if err != nil {
		return loss, err
	}
	if !ok {
		return loss, tr.nonFiniteGradient()
	}
	if err := e.Adam(tr.pArena, tr.gArena, tr.mArena, tr.vArena, step); err != nil {
		return loss, err
	}
	tr.adamStep++
	return loss, nil
}

// Predict runs the model in evaluation mode (batch norm with the running
// statistics, no dropout) on the device's current weights and writes the
// logit of each clip of x into logits: x holds len(logits) clips, any
// number, which go through the network up to n at a time. It changes no
// weight or statistic.
func (tr *Trainer) Predict(ctx context.Context, x, logits []float32) error {
	clip := tr.full.x.Len() / tr.n
	if len(x) != len(logits)*clip {
		return fmt.Errorf("gpu: predict: %d values for %d logits, want %d values per clip (clips of %v)", len(x), len(logits), clip, tr.full.x.shape[1:])
	}
	for off := 0; off < len(logits); off += tr.n {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := min(tr.n, len(logits)-off)
		if err := tr.bind(m); err != nil {
			return err
		}
		if err := tr.e.Upload(tr.x, x[off*clip:(off+m)*clip]); err != nil {
			return err
		}
		if err := tr.forward(false); err != nil {
			return err
		}
		if err := tr.e.Download(logits[off:off+m], tr.logits); err != nil {
			return err
		}
	}
	return nil
}

// nonFiniteGradient names the first parameter whose gradient is NaN or
// infinite.
func (tr *Trainer) nonFiniteGradient() error {
	g, err := tr.e.ToHost(tr.gArena)
	if err != nil {
		return err
	}
	for i, p := range tr.learn {
		for j, v := range g[tr.offs[i] : tr.offs[i]+len(p.Data())] {
			if v-v != 0 {
				return fmt.Errorf("gpu: trainer: gradient of %q has %v at index %d; no parameter was updated", p.Name, v, j)
			}
		}
	}
	return errors.New("gpu: trainer: a gradient is not finite; no parameter was updated")
}

func (tr *Trainer) convBN(s *convBNState, in *Tensor, relu, train bool) error {
	e := tr.e
	if err := e.Conv3d(in, s.w, s.c, s.spec.params()); err != nil {
		return fmt.Errorf("%s: %w", s.spec.conv, err)
	}
	bn := e.BatchNormInfer
	if train {
		bn = e.BatchNormTrain
	}
	if err := bn(s.c, s.y, &s.bn); err != nil {
		return fmt.Errorf("%s: %w", s.spec.bn, err)
	}
	if relu {
		return e.ReLU(s.y, s.y)
	}
	return nil
}

// forward runs the network on the bound batch in training mode (batch
// statistics, running statistics updated) or evaluation mode.
func (tr *Trainer) forward(train bool) error {
	e := tr.e
	if err := tr.convBN(tr.stem, tr.x, true, train); err != nil {
		return err
	}
	cur := tr.stem.y
	for _, b := range tr.blocks {
		if err := tr.convBN(b.conv1, b.in, true, train); err != nil {
			return err
		}
		if err := tr.convBN(b.conv2, b.conv1.y, false, train); err != nil {
			return err
		}
		short := b.in
		if b.down != nil {
			if err := tr.convBN(b.down, b.in, false, train); err != nil {
				return err
			}
			short = b.down.y
		}
		if err := e.AddReLU(b.conv2.y, short, b.conv2.y); err != nil {
			return err
		}
		cur = b.conv2.y
	}
	if err := e.GlobalAvgPool(cur, tr.feat); err != nil {
		return err
	}
	return e.Linear(tr.feat, tr.params["fc.weight"], tr.params["fc.bias"], tr.logits)
}

// view returns scratch buffer i shaped like t.
func (tr *Trainer) view(i int, like *Tensor) (*Tensor, error) {
	return tr.scratch[i].View(0, like.shape...)
}

// bnConvBackward runs a conv+bn layer backward from dy (the gradient of its
// output s.y, already through any ReLU): the batch norm into scratch sBN,
// the weight gradient, and, when dxSlot >= 0, the input gradient into
// scratch dxSlot. It returns that input gradient.
func (tr *Trainer) bnConvBackward(s *convBNState, in, dy *Tensor, sBN, dxSlot int) (*Tensor, error) {
	e := tr.e
	dc, err := tr.view(sBN, s.c)
	if err != nil {
		return nil, err
	}
	if err := e.BatchNormBackward(s.c, dy, dc, s.dgamma, s.dbeta, &s.bn); err != nil {
		return nil, fmt.Errorf("%s: %w", s.spec.bn, err)
	}
	if err := e.Conv3dBackwardFilter(in, dc, s.dw, s.spec.params()); err != nil {
		return nil, fmt.Errorf("%s: %w", s.spec.conv, err)
	}
	if dxSlot < 0 {
		return nil, nil
	}
	dx, err := tr.view(dxSlot, in)
	if err != nil {
		return nil, err
	}
	if err := e.Conv3dBackwardData(s.w, dc, dx, s.spec.params()); err != nil {
		return nil, fmt.Errorf("%s: %w", s.spec.conv, err)
	}
	return dx, nil
}

func (tr *Trainer) backward() error {
	e := tr.e
	last := tr.stem.y
	if len(tr.blocks) > 0 {
		last = tr.blocks[len(tr.blocks)-1].conv2.y
	}
	if err := e.LinearBackward(tr.feat, tr.params["fc.weight"], tr.dlogits, tr.dfeat, tr.grads["fc.weight"], tr.grads["fc.bias"]); err != nil {
		return err
	}
	// Scratch slots: d holds the gradient of the current block's output;
	// the other three are free.
	d, free := 0, [3]int{1, 2, 3}
	dout, err := tr.view(d, last)
	if err != nil {
		return err
	}
	if err := e.GlobalAvgPoolBackward(tr.dfeat, dout); err != nil {
		return err
	}
	for i := len(tr.blocks) - 1; i >= 0; i-- {
		b := tr.blocks[i]
		s1, s2, s3 := free[0], free[1], free[2]
		out := b.conv2.y
		if err := e.ReLUBackward(out, dout, dout); err != nil {
			return err
		}
		dr1, err := tr.bnConvBackward(b.conv2, b.conv1.y, dout, s1, s2)
		if err != nil {
			return err
		}
		if err := e.ReLUBackward(b.conv1.y, dr1, dr1); err != nil {
			return err
		}
		din, err := tr.bnConvBackward(b.conv1, b.in, dr1, s1, s3)
		if err != nil {
			return err
		}
		if b.down != nil {
			dshort, err := tr.bnConvBackward(b.down, b.in, dout, s1, s2)
			if err != nil {
				return err
			}
			if err := e.Add(din, dshort, din); err != nil {
				return err
			}
		} else if err := e.Add(din, dout, din); err != nil {
			return err
		}
		d, free = s3, [3]int{d, s1, s2}
		dout = din
	}
	if err := e.ReLUBackward(tr.stem.y, dout, dout); err != nil {
		return err
	}
	// The stem's input is the data: no input gradient.
	_, err = tr.bnConvBackward(tr.stem, tr.x, dout, free[0], -1)
	return err
}

// SyncToHost copies the trained state back: parameters and running
// statistics into the model's Params, num_batches_tracked, and the Adam
// moments and step into the optimiser (replacing its state), so that
// nn.SaveCheckpoint and CPU evaluation see what the device holds.
func (tr *Trainer) SyncToHost() error {
	p, err := tr.e.ToHost(tr.pArena)
	if err != nil {
		return err
	}
	for i, q := range tr.learn {
		copy(q.Data(), p[tr.offs[i]:])
	}
	b, err := tr.e.ToHost(tr.bArena)
	if err != nil {
		return err
	}
	for i, q := range tr.bufs {
		copy(q.Data(), b[tr.boffs[i]:])
	}
	for i, q := range tr.counters {
		q.Data()[0] = tr.counterBase[i] + float32(tr.forwards)
	}
	if tr.adamStep == 0 {
		tr.opt.Reset()
		return nil
	}
	st, err := tr.AdamState()
	if err != nil {
		return err
	}
	return tr.opt.SetState(st)
}

// AdamState returns the device's Adam state in nn.Adam's format:
// "<name>.exp_avg", "<name>.exp_avg_sq" and "<name>.step" for every
// learnable parameter.
func (tr *Trainer) AdamState() (map[string]*tensor.Dense, error) {
	m, err := tr.e.ToHost(tr.mArena)
	if err != nil {
		return nil, err
	}
	v, err := tr.e.ToHost(tr.vArena)
	if err != nil {
		return nil, err
	}
	out := map[string]*tensor.Dense{}
	for i, p := range tr.learn {
		n := len(p.Data())
		out[p.Name+".exp_avg"] = tensor.New(tensor.WithShape(p.Shape()...), tensor.WithBacking(append([]float32(nil), m[tr.offs[i]:tr.offs[i]+n]...)))
		out[p.Name+".exp_avg_sq"] = tensor.New(tensor.WithShape(p.Shape()...), tensor.WithBacking(append([]float32(nil), v[tr.offs[i]:tr.offs[i]+n]...)))
		out[p.Name+".step"] = tensor.New(tensor.WithShape(), tensor.WithBacking([]float32{float32(tr.adamStep)}))
	}
	return out, nil
}

// Gradients returns the last step's gradient of every learnable parameter,
// by name.
func (tr *Trainer) Gradients() (map[string][]float32, error) {
	g, err := tr.e.ToHost(tr.gArena)
	if err != nil {
		return nil, err
	}
	out := map[string][]float32{}
	for i, p := range tr.learn {
		out[p.Name] = append([]float32(nil), g[tr.offs[i]:tr.offs[i]+len(p.Data())]...)
	}
	return out, nil
}

// Close frees the trainer's device memory. The engine stays open.
func (tr *Trainer) Close() error {
	var first error
	for _, t := range tr.owned {
		if err := tr.e.Free(t); err != nil && first == nil {
			first = err
		}
	}
	tr.owned = nil
	return first
}
