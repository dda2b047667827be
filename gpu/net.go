package gpu

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/resnet3d"
)

// net is what the trainers share: a video ResNet (resnet3d.New's
// structure) and the learnable parameters of heads on an engine, with Adam.
// Learnable parameters and Adam moments each live in one device allocation
// (every Param at a 64-element-aligned offset), so the optimiser is one
// kernel launch; running statistics likewise. A pass is one forward and
// backward of the encoder over a batch of up to n clips, with its own
// activations and gradient arena; a step with two passes (two views) sums
// their gradients before Adam.
type net struct {
	e          *Engine
	opt        *nn.Adam
	n, t, h, w int
	plan       r3dPlan

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
	scratch         [4]*Tensor
	owned           []*Tensor
}

// pass is the encoder's activations for one batch of up to n clips (views
// of the first bound clips of the full-size tensors) and its gradients.
type pass struct {
	gArena         *Tensor
	grads          map[string]*Tensor
	bound          int
	x, feat, dfeat *Tensor
	full           struct{ x, feat, dfeat *Tensor }
	stem           *convBNState
	blocks         []*blockState
}

// convBNState is one conv+bn layer's tensors in a pass: weight, gradients,
// the conv output c (the batch norm's input) and the batch norm's output y
// (views for the bound batch size of cFull and yFull).
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

// newNet uploads enc's parameters and buffers and the heads' parameters,
// and opt's state when it has one for every parameter (all at the same
// step), and allocates passes passes for batches of up to n clips of
// t x h x w. A batch that does not fit in device memory fails here.
func newNet(e *Engine, enc *resnet3d.Model, heads []*nn.Param, n, t, h, w, passes int, opt *nn.Adam) (nt *net, err error) {
	if enc == nil || opt == nil || e == nil {
		return nil, errors.New("gpu: trainer: nil engine, model or optimiser")
	}
	if n <= 0 || t <= 0 || h <= 0 || w <= 0 {
		return nil, fmt.Errorf("gpu: trainer: batch (%d, %d, %d, %d), want positive sizes", n, t, h, w)
	}
	if c := enc.Config; !c.IsR3D() {
		return nil, fmt.Errorf("gpu: trainer: the GPU engine runs only R3D models (BasicStem, BasicBlock, Conv3DSimple in every stage); this model has %v, %v and %v: train it on the CPU", c.Stem, c.Block, c.Convs)
	}
	plan := planR3D(enc.Config)
	if _, err := plan.checkParams(enc.Params()); err != nil {
		return nil, err
	}
	if nt, err = newState(e, append(enc.Params(), heads...), passes, opt); err != nil {
		return nil, err
	}
	nt.n, nt.t, nt.h, nt.w, nt.plan = n, t, h, w, plan
	made := nt
	defer func() {
		if err != nil {
			made.Close()
		}
	}()
	for _, p := range nt.passes {
		if err := nt.allocPass(p, enc.Config.InChannels); err != nil {
			return nil, err
		}
	}
	return nt, nil
}

// newState uploads params (learnable ones, buffers and batch-norm
// counters) and opt's state when it has one for every learnable parameter,
// and allocates Adam's moments and passes gradient arenas: the part of a
// trainer that knows no model.
func newState(e *Engine, params []*nn.Param, passes int, opt *nn.Adam) (*net, error) {
	if e == nil || opt == nil {
		return nil, errors.New("gpu: trainer: nil engine or optimiser")
	}
	nt := &net{e: e, opt: opt, params: map[string]*Tensor{}, buffers: map[string]*Tensor{}}
	if err := nt.allocState(params, passes); err != nil {
		nt.Close()
		return nil, err
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

// newConvBN sets up a conv+bn layer of pass p for input shape in.
func (nt *net) newConvBN(p *pass, spec convSpec, in []int) (*convBNState, error) {
	out, err := ConvOutputShape(in, []int{spec.cout, spec.cin, spec.kernel[0], spec.kernel[1], spec.kernel[2]}, spec.params())
	if err != nil {
		return nil, fmt.Errorf("gpu: trainer: %s: %w (input %v too small?)", spec.conv, err, in)
	}
	if numel(out)/spec.cout < 2 {
		return nil, fmt.Errorf("gpu: trainer: %s: output %v has one value per channel; batch norm needs more when training", spec.conv, out)
	}
	s := &convBNState{spec: spec, w: nt.params[spec.conv+".weight"], dw: p.grads[spec.conv+".weight"]}
	s.bn = BatchNorm{
		Weight: nt.params[spec.bn+".weight"], Bias: nt.params[spec.bn+".bias"],
		RunningMean: nt.buffers[spec.bn+".running_mean"], RunningVar: nt.buffers[spec.bn+".running_var"],
		Eps: 1e-5, Momentum: 0.1,
	}
	s.dgamma, s.dbeta = p.grads[spec.bn+".weight"], p.grads[spec.bn+".bias"]
	if s.bn.SaveMean, err = nt.alloc(spec.cout); err != nil {
		return nil, err
	}
	if s.bn.SaveInvStd, err = nt.alloc(spec.cout); err != nil {
		return nil, err
	}
	if s.cFull, err = nt.alloc(out...); err != nil {
		return nil, err
	}
	if s.yFull, err = nt.alloc(out...); err != nil {
		return nil, err
	}
	s.c, s.y = s.cFull, s.yFull
	return s, nil
}

// allocPass allocates p's activations for n clips and the shared scratch
// buffers (once).
func (nt *net) allocPass(p *pass, cin int) error {
	f := &p.full
	var err error
	if f.x, err = nt.alloc(nt.n, cin, nt.t, nt.h, nt.w); err != nil {
		return err
	}
	if p.stem, err = nt.newConvBN(p, nt.plan.stem, f.x.shape); err != nil {
		return err
	}
	cur := p.stem.y
	maxAct := cur.Len()
	for _, b := range nt.plan.blocks {
		bs := &blockState{}
		if bs.conv1, err = nt.newConvBN(p, b.conv1, cur.shape); err != nil {
			return err
		}
		if bs.conv2, err = nt.newConvBN(p, b.conv2, bs.conv1.y.shape); err != nil {
			return err
		}
		if b.down != nil {
			if bs.down, err = nt.newConvBN(p, *b.down, cur.shape); err != nil {
				return err
			}
		}
		p.blocks = append(p.blocks, bs)
		cur = bs.conv2.y
		maxAct = max(maxAct, cur.Len())
	}
	if nt.scratch[0] == nil {
		for i := range nt.scratch {
			if nt.scratch[i], err = nt.alloc(maxAct); err != nil {
				return err
			}
		}
	}
	if f.feat, err = nt.alloc(nt.n, nt.plan.features); err != nil {
		return err
	}
	if f.dfeat, err = nt.alloc(nt.n, nt.plan.features); err != nil {
		return err
	}
	return nt.bind(p, nt.n)
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

// bind points p's activations at the first m clips of the full-size
// tensors, so that a step can run on a batch smaller than the one the
// trainer was made for (an epoch's last batch, say).
func (nt *net) bind(p *pass, m int) error {
	if m == p.bound {
		return nil
	}
	var err error
	for _, v := range []struct{ dst, src **Tensor }{{&p.x, &p.full.x}, {&p.feat, &p.full.feat}, {&p.dfeat, &p.full.dfeat}} {
		if *v.dst, err = batchView(*v.src, m); err != nil {
			return err
		}
	}
	for _, s := range p.layers() {
		if s.c, err = batchView(s.cFull, m); err != nil {
			return err
		}
		if s.y, err = batchView(s.yFull, m); err != nil {
			return err
		}
	}
	cur := p.stem.y
	for _, b := range p.blocks {
		b.in = cur
		cur = b.conv2.y
	}
	p.bound = m
	return nil
}

// layers returns p's conv+bn layers in forward order.
func (p *pass) layers() []*convBNState {
	out := []*convBNState{p.stem}
	for _, b := range p.blocks {
		out = append(out, b.conv1, b.conv2)
		if b.down != nil {
			out = append(out, b.down)
		}
	}
	return out
}

// batchNormFits says whether every batch norm of p's bound batch sees more
// than one value per channel, as training needs.
func (p *pass) batchNormFits() error {
	for _, s := range p.layers() {
		if s.c.Len()/s.spec.cout < 2 {
			return fmt.Errorf("gpu: trainer: %s: a batch of %d clips gives output %v, one value per channel; batch norm needs more when training", s.spec.conv, p.bound, s.c.shape)
		}
	}
	return nil
}

func (nt *net) convBN(s *convBNState, in *Tensor, relu, train bool) error {
	e := nt.e
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

// forward runs the encoder on p's bound batch, from p.x to the features
// p.feat, in training mode (batch statistics, running statistics updated)
// or evaluation mode.
func (nt *net) forward(p *pass, train bool) error {
	e := nt.e
	if err := nt.convBN(p.stem, p.x, true, train); err != nil {
		return err
	}
	cur := p.stem.y
	for _, b := range p.blocks {
		if err := nt.convBN(b.conv1, b.in, true, train); err != nil {
			return err
		}
		if err := nt.convBN(b.conv2, b.conv1.y, false, train); err != nil {
			return err
		}
		short := b.in
		if b.down != nil {
			if err := nt.convBN(b.down, b.in, false, train); err != nil {
				return err
			}
			short = b.down.y
		}
		if err := e.AddReLU(b.conv2.y, short, b.conv2.y); err != nil {
			return err
		}
		cur = b.conv2.y
	}
	if train {
		nt.forwards++
	}
	return e.GlobalAvgPool(cur, p.feat)
}

// view returns scratch buffer i shaped like t.
func (nt *net) view(i int, like *Tensor) (*Tensor, error) {
	return nt.scratch[i].View(0, like.shape...)
}

// bnConvBackward runs a conv+bn layer backward from dy (the gradient of its
// output s.y, already through any ReLU): the batch norm into scratch sBN,
// the weight gradient, and, when dxSlot >= 0, the input gradient into
// scratch dxSlot. It returns that input gradient.
func (nt *net) bnConvBackward(s *convBNState, in, dy *Tensor, sBN, dxSlot int) (*Tensor, error) {
	e := nt.e
	dc, err := nt.view(sBN, s.c)
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
	dx, err := nt.view(dxSlot, in)
	if err != nil {
		return nil, err
	}
	if err := e.Conv3dBackwardData(s.w, dc, dx, s.spec.params()); err != nil {
		return nil, fmt.Errorf("%s: %w", s.spec.conv, err)
	}
	return dx, nil
}

// backward runs the encoder backward from the features' gradient p.dfeat
// into p's gradients.
func (nt *net) backward(p *pass) error {
	e := nt.e
	last := p.stem.y
	if len(p.blocks) > 0 {
		last = p.blocks[len(p.blocks)-1].conv2.y
	}
	// Scratch slots: d holds the gradient of the current block's output;
	// the other three are free.
	d, free := 0, [3]int{1, 2, 3}
	dout, err := nt.view(d, last)
	if err != nil {
		return err
	}
	if err := e.GlobalAvgPoolBackward(p.dfeat, dout); err != nil {
		return err
	}
	for i := len(p.blocks) - 1; i >= 0; i-- {
		b := p.blocks[i]
		s1, s2, s3 := free[0], free[1], free[2]
		out := b.conv2.y
		if err := e.ReLUBackward(out, dout, dout); err != nil {
			return err
		}
		dr1, err := nt.bnConvBackward(b.conv2, b.conv1.y, dout, s1, s2)
		if err != nil {
			return err
		}
		if err := e.ReLUBackward(b.conv1.y, dr1, dr1); err != nil {
			return err
		}
		din, err := nt.bnConvBackward(b.conv1, b.in, dr1, s1, s3)
		if err != nil {
			return err
		}
		if b.down != nil {
			dshort, err := nt.bnConvBackward(b.down, b.in, dout, s1, s2)
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
	if err := e.ReLUBackward(p.stem.y, dout, dout); err != nil {
		return err
	}
	// The stem's input is the data: no input gradient.
	_, err = nt.bnConvBackward(p.stem, p.x, dout, free[0], -1)
	return err
}

// adamStep returns the hyperparameters of the next Adam step, checked.
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
