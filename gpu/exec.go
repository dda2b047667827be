package gpu

import (
	"fmt"
	"slices"

	"github.com/vidssl/vidssl/nn"
)

// tapePlan is an nn.Tape compiled for an engine: the model-independent
// executor. Every op of the tape becomes the engine call that computes it
// (Conv3d, BatchNormTrain or BatchNormInfer with a fused ReLU, Pool3d,
// Linear, ...), forward in tape order and backward in reverse, over device
// tensors sized for batches of up to n rows; the tape's Params live in the
// net's arenas, so that the optimiser, SyncToHost and Gradients work as for any
// trainer.
//
// Activations are kept for the backward pass, one tensor per value (a
// Reshape is a view of its input; a ReLU or Add overwrites an input that
// nothing else reads, see overwritable); a plan that only predicts reuses
// an activation's memory once its last reader has run. Gradients live in slots that the
// compiler assigns by liveness: a value's gradient occupies a slot from the
// backward of its last consumer to that of its producer, and slots are
// reused once free; ReLU backward runs in place, and a value whose
// gradient is its consumer's output gradient (Add, Reshape, ReLU) takes
// over that slot instead of copying it. When several ops consume a value,
// the first contribution (in backward order) writes its slot and the
// others are added to it.
type tapePlan struct {
	nt    *net
	tape  *nn.Tape
	n     int       // rows of the largest batch
	full  []*Tensor // by value: activations for n rows
	cur   []*Tensor // by value: views of the bound rows
	bound int
	bns   []*BatchNorm       // by op: batch-norm state (nil for other ops)
	grads map[string]*Tensor // the pass's parameter gradients
	// consumers[v] counts the ops that read value v; producer[v] is the
	// op that computes it (-1 for an input).
	consumers, producer []int
	// needGrad[v]: value v depends on a learnable Param.
	needGrad []bool
	// gslot[v]: the slot of value v's gradient (-1 for none).
	gslot []int
	slots []*Tensor
	bwd   []opGrad // by op
	// trained: the last forward pass was in training mode (batch-norm
	// backward needs its batch statistics).
	trained bool
}

// gradMode says how an op's contribution to an input's gradient reaches
// the input's slot.
type gradMode int

const (
	gradNone  gradMode = iota // the input needs no gradient
	gradWrite                 // the op writes the input's slot
	gradAccum                 // the op writes scratch slot tmp, which is added to the input's slot
	gradAlias                 // the input's slot is the output gradient's slot (already there)
	gradCopy                  // the output gradient is copied to the input's slot
	gradAdd                   // the output gradient is added to the input's slot
)

type gradDst struct {
	mode gradMode
	tmp  int
}

// opGrad is one op's backward: the slot of its output's gradient (-1: no
// gradient reaches it) and where each data input's contribution goes.
type opGrad struct {
	dy int
	in []gradDst
}

// passesThrough reports whether an op's contribution to its inputs'
// gradients is its (ReLU-masked) output gradient itself.
func passesThrough(k nn.TapeKind) bool {
	return k == nn.TapeAdd || k == nn.TapeReshape || k == nn.TapeReLU
}

// slotAlloc assigns memory slots to tensors whose lifetimes a compiler
// simulates: slot s has size sizes[s] (in float32s) and refs[s] holders;
// a slot whose holders all released it is reused, best fit first, and
// grown when none fits (sizes are only numbers until tensors makes them).
type slotAlloc struct{ sizes, refs, free []int }

// get returns a slot of at least n elements, held once.
func (a *slotAlloc) get(n int) int {
	best := -1
	for i, s := range a.free {
		b := -1
		if best >= 0 {
			b = a.sizes[a.free[best]]
		}
		switch size := a.sizes[s]; {
		case best < 0, size >= n && (b < n || size < b), b < n && size > b:
			best = i
		}
	}
	if best < 0 {
		a.sizes, a.refs = append(a.sizes, n), append(a.refs, 1)
		return len(a.sizes) - 1
	}
	s := a.free[best]
	a.free = slices.Delete(a.free, best, best+1)
	a.sizes[s], a.refs[s] = max(a.sizes[s], n), 1
	return s
}

// hold adds a holder to slot s.
func (a *slotAlloc) hold(s int) { a.refs[s]++ }

// release drops a holder of slot s, freeing it with its last.
func (a *slotAlloc) release(s int) {
	if a.refs[s]--; a.refs[s] == 0 {
		a.free = append(a.free, s)
	}
}

// tensors allocates the slots on nt's engine.
func (a *slotAlloc) tensors(nt *net) ([]*Tensor, error) {
	out := make([]*Tensor, len(a.sizes))
	for i, n := range a.sizes {
		var err error
		if out[i], err = nt.alloc(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// compileTape checks tape, and allocates the activations (and, to train,
// the gradient slots) of a pass for batches of up to n rows on nt's
// engine, with the parameter gradients of pass p (nil for a plan that
// only runs forward in evaluation mode). Every value's first dimension
// must be the batch's (n); the tape's Params must be in nt.
func compileTape(nt *net, p *pass, tape *nn.Tape, n int) (*tapePlan, error) {
	x := &tapePlan{nt: nt, tape: tape, n: n}
	if p != nil {
		x.grads = p.grads
	}
	nv := len(tape.Shapes)
	x.full, x.cur = make([]*Tensor, nv), make([]*Tensor, nv)
	x.bns = make([]*BatchNorm, len(tape.Ops))
	for v, s := range tape.Shapes {
		if len(s) == 0 || s[0] != n {
			return nil, fmt.Errorf("gpu: plan: value %d has shape %v; every value must have the batch's %d rows first", v, s, n)
		}
	}
	if err := x.checkOps(); err != nil {
		return nil, err
	}
	x.consumers, x.producer = make([]int, nv), slices.Repeat([]int{-1}, nv)
	for i, op := range tape.Ops {
		for _, v := range op.In {
			x.consumers[v]++
		}
		x.producer[op.Out] = i
	}
	if p != nil {
		if err := x.planGradients(); err != nil {
			return nil, err
		}
	}
	if err := x.planActivations(); err != nil {
		return nil, err
	}
	for i, op := range tape.Ops {
		if op.Kind != nn.TapeBatchNorm3d {
			continue
		}
		l := op.BatchNorm
		bn := &BatchNorm{
			Weight: nt.params[op.Weight.Name], Bias: nt.params[op.Bias.Name],
			RunningMean: nt.buffers[l.RunningMean.Name], RunningVar: nt.buffers[l.RunningVar.Name],
			Eps: l.Eps, Momentum: l.Momentum,
		}
		if p != nil {
			var err error
			c := tape.Shapes[op.Out][1]
			if bn.SaveMean, err = nt.alloc(c); err != nil {
				return nil, err
			}
			if bn.SaveInvStd, err = nt.alloc(c); err != nil {
				return nil, err
			}
		}
		x.bns[i] = bn
	}
	return x, x.bind(n)
}

// planActivations gives every value its memory. To train, every value
// lives to the end, for the backward pass; a Reshape is a view of its
// input, and a ReLU or Add overwrites an input that nothing else reads
// (overwritable). A plan that only runs forward also frees a value's
// memory after its last reader, for the values computed later.
func (x *tapePlan) planActivations() error {
	t := x.tape
	forwardOnly := x.grads == nil
	last := make([]int, len(t.Shapes)) // the last op that reads each value
	for i, op := range t.Ops {
		for _, v := range op.In {
			last[v] = i
		}
	}
	for _, v := range t.Outputs {
		last[v] = len(t.Ops)
	}
	var a slotAlloc
	slot := make([]int, len(t.Shapes))
	for _, v := range t.Inputs {
		slot[v] = a.get(numel(t.Shapes[v]))
	}
	for i, op := range t.Ops {
		switch v := x.overwritable(i); {
		case op.Kind == nn.TapeReshape:
			v = op.In[0]
			fallthrough
		case v >= 0:
			slot[op.Out] = slot[v]
			a.hold(slot[v])
		default:
			slot[op.Out] = a.get(numel(t.Shapes[op.Out]))
		}
		for j, v := range op.In {
			if forwardOnly && last[v] == i && !slices.Contains(op.In[:j], v) {
				a.release(slot[v])
			}
		}
	}
	slots, err := a.tensors(x.nt)
	if err != nil {
		return err
	}
	for v, s := range slot {
		if x.full[v], err = slots[s].View(0, t.Shapes[v]...); err != nil {
			return err
		}
	}
	return nil
}

// overwritable returns an input of op i (a ReLU or an Add) that the op may
// overwrite with its output, as the residual AddReLU of a ResNet block
// overwrites its branch's batch-norm output, or -1: a value that only op i
// reads, that no backward pass reads (its producer's backward reads the
// producer's input, and op i's reads only its output) and that is not a
// tape input or output.
func (x *tapePlan) overwritable(i int) int {
	t := x.tape
	op := t.Ops[i]
	if op.Kind != nn.TapeReLU && op.Kind != nn.TapeAdd {
		return -1
	}
	for _, v := range op.In {
		p := x.producer[v]
		if p < 0 || x.consumers[v] != 1 || slices.Contains(t.Outputs, v) {
			continue
		}
		switch po := t.Ops[p]; {
		case po.Kind == nn.TapeConv3d, po.Kind == nn.TapeLinear, po.Kind == nn.TapeBatchNorm3d && !po.ReLU, po.Kind == nn.TapeAdd && !po.ReLU:
			return v
		}
	}
	return -1
}

// checkOps verifies that the engine has every op of the tape, with its
// Params on the engine.
func (x *tapePlan) checkOps() error {
	nt := x.nt
	learnable := func(op nn.TapeOp, p *nn.Param, what string) error {
		if p == nil {
			return nil
		}
		if p.Buffer {
			return fmt.Errorf("gpu: plan: %s %s: the %s %q is a buffer; the engine trains it", op.Kind, op.Name, what, p.Name)
		}
		if nt.params[p.Name] == nil || (x.grads != nil && x.grads[p.Name] == nil) {
			return fmt.Errorf("gpu: plan: %s %s: %q is not among the trainer's parameters", op.Kind, op.Name, p.Name)
		}
		return nil
	}
	uses := map[*nn.Param]string{}
	for _, op := range x.tape.Ops {
		for _, p := range []*nn.Param{op.Weight, op.Bias} {
			if p == nil {
				continue
			}
			if prev, ok := uses[p]; ok {
				return fmt.Errorf("gpu: plan: %q is used by %s and %s; the engine does not share parameters between ops yet", p.Name, prev, op.Name)
			}
			uses[p] = op.Name
		}
		if err := learnable(op, op.Weight, "weight"); err != nil {
			return err
		}
		if err := learnable(op, op.Bias, "bias"); err != nil {
			return err
		}
		switch op.Kind {
		case nn.TapeConv3d:
			if op.Bias != nil {
				return fmt.Errorf("gpu: plan: Conv3d %s has a bias, which the engine's convolution does not add: follow it by a BatchNorm3d instead", op.Name)
			}
		case nn.TapeBatchNorm3d:
			l := op.BatchNorm
			if l == nil || op.Bias == nil || nt.buffers[l.RunningMean.Name] == nil || nt.buffers[l.RunningVar.Name] == nil {
				return fmt.Errorf("gpu: plan: BatchNorm3d %s: its running statistics are not among the trainer's buffers", op.Name)
			}
		case nn.TapeReLU, nn.TapeAdd, nn.TapeMaxPool3d, nn.TapeAvgPool3d, nn.TapeGlobalAvgPool3d, nn.TapeReshape, nn.TapeLinear:
		default:
			return fmt.Errorf("gpu: plan: op %s %s has no engine kernel", op.Kind, op.Name)
		}
	}
	return nil
}

// planGradients decides which values need gradients and assigns their
// slots by simulating the backward pass.
func (x *tapePlan) planGradients() error {
	t := x.tape
	x.needGrad = make([]bool, len(t.Shapes))
	for _, op := range t.Ops {
		need := op.Weight != nil || op.Bias != nil
		for _, v := range op.In {
			need = need || x.needGrad[v]
		}
		x.needGrad[op.Out] = need
	}
	x.gslot = slices.Repeat([]int{-1}, len(t.Shapes))
	var a slotAlloc
	alloc := func(v int) int { return a.get(numel(t.Shapes[v])) }
	// A value whose only consumer is op i and whose producer is op i-1
	// may share op i's output gradient without copying it when that
	// producer only reads its output gradient: it runs right after op i
	// in the backward pass, before anything changes the slot.
	readsShared := func(v, i int) bool {
		p := x.producer[v]
		if p < 0 || p != i-1 || x.consumers[v] != 1 || slices.Contains(t.Outputs, v) {
			return false
		}
		k := t.Ops[p].Kind
		return !passesThrough(k) && !(k == nn.TapeBatchNorm3d && t.Ops[p].ReLU)
	}
	for i, o := range t.Outputs {
		if slices.Contains(t.Outputs[:i], o) {
			return fmt.Errorf("gpu: plan: output %d is output %d again", i, slices.Index(t.Outputs, o))
		}
		if x.needGrad[o] {
			x.gslot[o] = alloc(o)
		}
	}
	x.bwd = make([]opGrad, len(t.Ops))
	for i := len(t.Ops) - 1; i >= 0; i-- {
		op := t.Ops[i]
		g := opGrad{dy: x.gslot[op.Out], in: make([]gradDst, len(op.In))}
		if !x.needGrad[op.Out] {
			g.dy = -1
			x.bwd[i] = g
			continue
		}
		if g.dy < 0 {
			return fmt.Errorf("gpu: plan: no gradient reaches %s %s, whose parameters need one (a NoInputGrad convolution cuts it off?)", op.Kind, op.Name)
		}
		taken := false
		var tmps []int
		order := make([]int, 0, len(op.In))
		for j, v := range op.In { // inputs that cannot share the slot first
			if !readsShared(v, i) {
				order = append(order, j)
			}
		}
		for j, v := range op.In {
			if readsShared(v, i) {
				order = append(order, j)
			}
		}
		for _, j := range order {
			v := op.In[j]
			d := &g.in[j]
			switch {
			case op.Kind == nn.TapeConv3d && op.NoInputGrad:
				d.mode = gradNone
			case !x.needGrad[v]:
				d.mode = gradNone
				if op.Kind == nn.TapeBatchNorm3d { // the engine always computes dx
					d.mode, d.tmp = gradAccum, alloc(v)
					tmps = append(tmps, d.tmp)
				}
			case passesThrough(op.Kind):
				switch {
				case x.gslot[v] < 0 && !taken:
					d.mode, x.gslot[v], taken = gradAlias, g.dy, true
				case x.gslot[v] < 0 && readsShared(v, i):
					d.mode, x.gslot[v] = gradAlias, g.dy
					a.hold(g.dy)
				case x.gslot[v] < 0:
					d.mode, x.gslot[v] = gradCopy, alloc(v)
				default:
					d.mode = gradAdd
				}
			case x.gslot[v] < 0:
				d.mode, x.gslot[v] = gradWrite, alloc(v)
			default:
				d.mode, d.tmp = gradAccum, alloc(v)
				tmps = append(tmps, d.tmp)
			}
		}
		for _, s := range tmps {
			a.release(s)
		}
		if !taken {
			a.release(g.dy)
		}
		x.bwd[i] = g
	}
	var err error
	x.slots, err = a.tensors(x.nt)
	return err
}

// rowsShape returns value v's shape for m rows.
func (x *tapePlan) rowsShape(v, m int) []int {
	s := slices.Clone(x.tape.Shapes[v])
	s[0] = m
	return s
}

// bind points the activations at their first m rows.
func (x *tapePlan) bind(m int) error {
	if m == x.bound {
		return nil
	}
	if m < 1 || m > x.n {
		return fmt.Errorf("gpu: plan: batch of %d rows, want 1 to %d", m, x.n)
	}
	for v, t := range x.full {
		c, err := t.View(0, x.rowsShape(v, m)...)
		if err != nil {
			return err
		}
		x.cur[v] = c
	}
	x.bound = m
	return nil
}

// batchNormFits says whether every batch norm sees more than one value per
// channel at the bound batch size, as training needs.
func (x *tapePlan) batchNormFits() error {
	for _, op := range x.tape.Ops {
		if s := x.cur[op.In[0]].shape; op.Kind == nn.TapeBatchNorm3d && numel(s)/s[1] < 2 {
			return fmt.Errorf("gpu: plan: %s: a batch of %d gives input %v, one value per channel; batch norm needs more when training", op.Name, x.bound, s)
		}
	}
	return nil
}

// clip returns the shape of one row (clip) of the first input, and its
// number of values.
func (x *tapePlan) clip() ([]int, int) {
	s := x.tape.Shapes[x.tape.Inputs[0]][1:]
	return s, numel(s)
}

// input returns input i of the tape for the bound rows, to upload into.
func (x *tapePlan) input(i int) *Tensor { return x.cur[x.tape.Inputs[i]] }

// output returns output i for the bound rows, valid after forward.
func (x *tapePlan) output(i int) *Tensor { return x.cur[x.tape.Outputs[i]] }

// outputGrad returns the tensor into which the caller writes the gradient
// of output i before backward (nil when the output depends on no
// parameter).
func (x *tapePlan) outputGrad(i int) *Tensor {
	v := x.tape.Outputs[i]
	if x.gslot[v] < 0 {
		return nil
	}
	t, _ := x.slot(x.gslot[v], v)
	return t
}

// slot returns slot s viewed as value v's gradient for the bound rows.
func (x *tapePlan) slot(s, v int) (*Tensor, error) {
	return x.slots[s].View(0, x.rowsShape(v, x.bound)...)
}

// opError names op in err (nil for nil).
func opError(op *nn.TapeOp, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s: %w", op.Kind, op.Name, err)
}

func convParams(op *nn.TapeOp) ConvParams { return ConvParams{Stride: op.Stride, Padding: op.Padding} }

func poolParams(op *nn.TapeOp) PoolParams {
	return PoolParams{Kernel: op.Kernel, Stride: op.Stride, Padding: op.Padding, Max: op.Kind == nn.TapeMaxPool3d}
}

// param returns a Param's tensor on the engine (nil for nil).
func (x *tapePlan) param(p *nn.Param) *Tensor {
	if p == nil {
		return nil
	}
	return x.nt.params[p.Name]
}

// forward runs the tape on the bound rows of the inputs, in training mode
// (batch statistics, running statistics updated) or evaluation mode.
func (x *tapePlan) forward(train bool) error {
	e := x.nt.e
	if train {
		if err := x.batchNormFits(); err != nil {
			return err
		}
	}
	for i := range x.tape.Ops {
		op := &x.tape.Ops[i]
		in, out := x.cur[op.In[0]], x.cur[op.Out]
		var err error
		switch op.Kind {
		case nn.TapeConv3d:
			err = e.Conv3d(in, x.param(op.Weight), out, convParams(op))
		case nn.TapeBatchNorm3d:
			if train {
				err = e.BatchNormTrain(in, out, x.bns[i])
			} else {
				err = e.BatchNormInfer(in, out, x.bns[i])
			}
			if err == nil && op.ReLU {
				err = e.ReLU(out, out)
			}
		case nn.TapeReLU:
			err = e.ReLU(in, out)
		case nn.TapeAdd:
			if op.ReLU {
				err = e.AddReLU(in, x.cur[op.In[1]], out)
			} else {
				err = e.Add(in, x.cur[op.In[1]], out)
			}
		case nn.TapeMaxPool3d, nn.TapeAvgPool3d:
			err = e.Pool3d(in, out, poolParams(op))
		case nn.TapeGlobalAvgPool3d:
			var y *Tensor
			if y, err = out.Reshape(x.bound, in.shape[1]); err == nil {
				err = e.GlobalAvgPool(in, y)
			}
		case nn.TapeReshape:
			// A view of its input.
		case nn.TapeLinear:
			err = e.Linear(in, x.param(op.Weight), x.param(op.Bias), out)
		}
		if err != nil {
			return opError(op, err)
		}
	}
	if train {
		x.nt.forwards++
	}
	x.trained = train
	return nil
}

// backward runs the tape backward from the output gradients (outputGrad)
// into the pass's parameter gradients, after a training forward pass.
func (x *tapePlan) backward() error {
	if !x.trained {
		return fmt.Errorf("gpu: plan: backward without a training forward pass")
	}
	e := x.nt.e
	for i := len(x.tape.Ops) - 1; i >= 0; i-- {
		op := &x.tape.Ops[i]
		g := x.bwd[i]
		if g.dy < 0 {
			continue
		}
		if err := opError(op, x.backwardOp(e, i, op, g)); err != nil {
			return err
		}
	}
	return nil
}

// target returns where op's computed contribution to its input's gradient
// goes (nil for none).
func (x *tapePlan) target(op *nn.TapeOp, g opGrad) (*Tensor, error) {
	v := op.In[0]
	switch g.in[0].mode {
	case gradWrite:
		return x.slot(x.gslot[v], v)
	case gradAccum:
		return x.slot(g.in[0].tmp, v)
	}
	return nil, nil
}

// finish adds a scratch contribution dx into the gradient of op's input.
func (x *tapePlan) finish(e *Engine, op *nn.TapeOp, g opGrad, dx *Tensor) error {
	v := op.In[0]
	if g.in[0].mode != gradAccum || x.gslot[v] < 0 {
		return nil
	}
	acc, err := x.slot(x.gslot[v], v)
	if err != nil {
		return err
	}
	return e.Add(acc, dx, acc)
}

func (x *tapePlan) backwardOp(e *Engine, i int, op *nn.TapeOp, g opGrad) error {
	dy, err := x.slot(g.dy, op.Out)
	if err != nil {
		return err
	}
	in, out := x.cur[op.In[0]], x.cur[op.Out]
	if passesThrough(op.Kind) {
		if op.Kind == nn.TapeReLU || op.ReLU {
			if err := e.ReLUBackward(out, dy, dy); err != nil {
				return err
			}
		}
		for j, v := range op.In {
			d := g.in[j]
			if d.mode == gradNone || d.mode == gradAlias {
				continue
			}
			src, err := x.slot(g.dy, v)
			if err != nil {
				return err
			}
			dst, err := x.slot(x.gslot[v], v)
			if err != nil {
				return err
			}
			if d.mode == gradCopy {
				err = e.Copy(dst, src)
			} else {
				err = e.Add(dst, src, dst)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	dx, err := x.target(op, g)
	if err != nil {
		return err
	}
	switch op.Kind {
	case nn.TapeConv3d:
		if err := e.Conv3dBackwardFilter(in, dy, x.grads[op.Weight.Name], convParams(op)); err != nil {
			return err
		}
		if dx != nil {
			err = e.Conv3dBackwardData(x.param(op.Weight), dy, dx, convParams(op))
		}
	case nn.TapeBatchNorm3d:
		if op.ReLU {
			if err := e.ReLUBackward(out, dy, dy); err != nil {
				return err
			}
		}
		err = e.BatchNormBackward(in, dy, dx, x.grads[op.Weight.Name], x.grads[op.Bias.Name], x.bns[i])
	case nn.TapeMaxPool3d, nn.TapeAvgPool3d:
		if dx != nil {
			err = e.Pool3dBackward(in, out, dy, dx, poolParams(op))
		}
	case nn.TapeGlobalAvgPool3d:
		if dx != nil {
			var d2 *Tensor
			if d2, err = dy.Reshape(x.bound, in.shape[1]); err == nil {
				err = e.GlobalAvgPoolBackward(d2, dx)
			}
		}
	case nn.TapeLinear:
		var db *Tensor
		if op.Bias != nil {
			db = x.grads[op.Bias.Name]
		}
		err = e.LinearBackward(in, x.param(op.Weight), dy, dx, x.grads[op.Weight.Name], db)
	}
	if err != nil || dx == nil {
		return err
	}
	if !x.needGrad[op.In[0]] {
		return nil // scratch for an input gradient nobody needs
	}
	return x.finish(e, op, g, dx)
}
