package nn

import (
	"fmt"
	"hash"
	"math"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/internal/bnorm"
	"github.com/vidssl/vidssl/internal/parallel"
)

// BatchNorm3dLayer is torch.nn.BatchNorm3d over (N, C, T, H, W) activations:
//
//	y = (x - mean) / sqrt(var + Eps) * weight + bias
//
// per channel. In a training graph mean and var are the batch statistics over
// N, T, H and W (biased variance), and every execution of the graph updates the
// running statistics as PyTorch does:
//
//	running_mean = (1 - Momentum) * running_mean + Momentum * mean
//	running_var  = (1 - Momentum) * running_var  + Momentum * var * M/(M-1)
//	num_batches_tracked += 1
//
// with M = N*T*H*W (the running variance takes the unbiased estimate). In an
// evaluation graph mean and var are the running statistics, which are read
// when the graph executes, so an evaluation graph sees the updates a training
// graph made.
//
// Backward passes. In training mode the gradient is the full batch-norm
// gradient, through the batch statistics; its ops recompute the batch mean and
// variance from x rather than sharing state with the forward op, so they are
// correct however often, and in whatever order, the graph is executed. In
// evaluation mode the gradient is the affine one, dx = dy * weight /
// sqrt(running_var + Eps), which is what Grad-CAM needs (gorgonia's own
// BatchNorm gets this wrong). Both modes give the gradients of weight and bias.
//
// Exactly-once updates: the running statistics are updated by the forward op's
// Do, which a gorgonia TapeMachine calls once per RunAll (after Reset). Use a
// TapeMachine; gorgonia's LispMachine is not supported by vidssl's ops. Applying
// the same layer twice to the same node in one graph gives one node (gorgonia
// de-duplicates equal computations) and so one update, where PyTorch would
// update twice.
type BatchNorm3dLayer struct {
	// Name prefixes the state names ("stem.1" gives "stem.1.weight", ...).
	Name string
	// Weight (gamma, initially 1) and Bias (beta, initially 0) have shape (C).
	Weight, Bias *Param
	// RunningMean (initially 0) and RunningVar (initially 1) are buffers of
	// shape (C).
	RunningMean, RunningVar *Param
	// NumBatchesTracked counts the training executions. PyTorch stores it as
	// a 0-dimensional int64 tensor; here it is a float32 buffer of shape (1)
	// (exact up to 2^24 batches), which checkpoint code converts.
	NumBatchesTracked *Param
	// Eps is added to the variance (PyTorch's default: 1e-5).
	Eps float64
	// Momentum weighs the newest batch in the running statistics (PyTorch's
	// default: 0.1).
	Momentum float64
}

// NewBatchNorm3dLayer returns a batch-norm layer over the given number of
// channels with PyTorch's initial state, eps 1e-5 and momentum 0.1.
func NewBatchNorm3dLayer(name string, channels int) *BatchNorm3dLayer {
	l := &BatchNorm3dLayer{
		Name:              name,
		Weight:            NewParam(name+".weight", channels),
		Bias:              NewParam(name+".bias", channels),
		RunningMean:       NewBuffer(name+".running_mean", channels),
		RunningVar:        NewBuffer(name+".running_var", channels),
		NumBatchesTracked: NewBuffer(name+".num_batches_tracked", 1),
		Eps:               1e-5,
		Momentum:          0.1,
	}
	Fill(l.Weight, 1)
	Fill(l.RunningVar, 1)
	return l
}

// Params returns weight, bias, running_mean, running_var and
// num_batches_tracked, in PyTorch's state_dict order.
func (l *BatchNorm3dLayer) Params() []*Param {
	return []*Param{l.Weight, l.Bias, l.RunningMean, l.RunningVar, l.NumBatchesTracked}
}

// Forward normalises x (N, C, T, H, W) in g's mode, with the layer's weight
// and bias bound into g.
func (l *BatchNorm3dLayer) Forward(g *Graph, x *G.Node) (*G.Node, error) {
	return l.Apply(x, g.Bind(l.Weight), g.Bind(l.Bias), g.Training)
}

// ForwardReLU is Forward followed by ReLU, as one op: the same values and
// gradients as ReLU(Forward(g, x)) with one pass less over the activations in
// each direction and one tensor less per step.
func (l *BatchNorm3dLayer) ForwardReLU(g *Graph, x *G.Node) (*G.Node, error) {
	return l.apply(x, g.Bind(l.Weight), g.Bind(l.Bias), g.Training, true)
}

// Apply is Forward with the weight and bias given as nodes (of shape (C)) and
// the mode as a flag, for graphs not built through a [Graph]. The running
// statistics are still the layer's buffers.
func (l *BatchNorm3dLayer) Apply(x, weight, bias *G.Node, training bool) (*G.Node, error) {
	return l.apply(x, weight, bias, training, false)
}

// ApplyReLU is Apply followed by ReLU, as one op (see ForwardReLU).
func (l *BatchNorm3dLayer) ApplyReLU(x, weight, bias *G.Node, training bool) (*G.Node, error) {
	return l.apply(x, weight, bias, training, true)
}

func (l *BatchNorm3dLayer) apply(x, weight, bias *G.Node, training, relu bool) (*G.Node, error) {
	sx := shapeOf(x)
	if len(sx) != 5 {
		return nil, fmt.Errorf("nn: BatchNorm3d %s: input %v, want 5 dimensions (N, C, T, H, W)", l.Name, sx)
	}
	c := sx[1]
	for _, p := range []struct {
		what string
		s    []int
	}{
		{"weight", shapeOf(weight)}, {"bias", shapeOf(bias)},
		{"running_mean", l.RunningMean.Shape()}, {"running_var", l.RunningVar.Shape()},
	} {
		if len(p.s) != 1 || p.s[0] != c {
			return nil, fmt.Errorf("nn: BatchNorm3d %s: %s %v does not match input %v: want (%d)", l.Name, p.what, p.s, sx, c)
		}
	}
	if len(l.NumBatchesTracked.Data()) != 1 {
		return nil, fmt.Errorf("nn: BatchNorm3d %s: num_batches_tracked %v, want one element", l.Name, l.NumBatchesTracked.Shape())
	}
	if training && sx[0]*sx[2]*sx[3]*sx[4] < 2 {
		return nil, fmt.Errorf("nn: BatchNorm3d %s: expected more than 1 value per channel when training, got input %v", l.Name, sx)
	}
	cfg := bnConfig{layer: l, training: training, relu: relu, eps: l.Eps, momentum: l.Momentum, cache: &bnCache{}}
	y, err := G.ApplyOp(&bnOp{cfg: cfg}, x, weight, bias)
	if err != nil {
		return nil, fmt.Errorf("nn: BatchNorm3d %s of %v: %w", l.Name, sx, err)
	}
	return y, nil
}

// bnConfig is what every batch-norm op of one layer application shares.
type bnConfig struct {
	layer         *BatchNorm3dLayer
	training      bool
	relu          bool // a ReLU follows, in the same op
	eps, momentum float64
	cache         *bnCache
}

func (c bnConfig) String() string {
	mode := "eval"
	if c.training {
		mode = "train"
	}
	if c.relu {
		mode += "+relu"
	}
	return fmt.Sprintf("%s, %s, eps=%g, momentum=%g", c.layer.Name, mode, c.eps, c.momentum)
}

// bnCache hands the per-channel statistics of a backward pass from the first
// gradient op of a layer application that computes them to the others,
// which would otherwise make the same pass over x and dy. Statistics are
// valid for one execution of the forward op (gen, counted by its Do, which
// a machine runs before the gradient ops) and the same x, dy (and ReLU
// output) tensors.
type bnCache struct {
	mu    sync.Mutex
	gen   uint64 // forward executions so far
	valid uint64 // the gen the statistics below belong to; 0: none
	key   [3]*float32
	stats []bnStats
}

// bnStats are one channel's normalising statistics and moments.
type bnStats struct {
	mean, invstd float64
	mo           bnorm.Moments
}

func (c *bnCache) bump() {
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// lookup returns the statistics for the given tensors, or nil. A key
// without x (the bias gradient's, which uses only dy's sum) matches any x.
func (c *bnCache) lookup(key [3]*float32) []bnStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	if key[0] == nil {
		key[0] = c.key[0]
	}
	if c.valid != 0 && c.valid == c.gen && c.key == key {
		return c.stats
	}
	return nil
}

// store records statistics computed for the given tensors in this execution.
func (c *bnCache) store(key [3]*float32, stats []bnStats) {
	c.mu.Lock()
	c.valid, c.key, c.stats = c.gen, key, stats
	c.mu.Unlock()
}

// bnKey identifies the tensors that statistics were computed from.
func bnKey(x, y, dy []float32) [3]*float32 {
	var k [3]*float32
	for i, s := range [][]float32{x, y, dy} {
		if len(s) > 0 {
			k[i] = &s[0]
		}
	}
	return k
}

// key is what an op of the given kind hashes: its String plus the layer's
// address, so that two layers of one name give different ops.
func (c bnConfig) key(kind string) bnHashKey {
	return bnHashKey(fmt.Sprintf("%s(%s)@%p", kind, c, c.layer))
}

// bnHashKey adapts a string to hashOf and writeHash.
type bnHashKey string

func (k bnHashKey) String() string { return string(k) }

// bnDims checks x against C-element tensors and returns N, C and the spatial
// size S = T*H*W.
func bnDims(what string, sx tensor.Shape, cs ...[]float32) (n, c, s int, err error) {
	if len(sx) != 5 {
		return 0, 0, 0, fmt.Errorf("nn: %s: input %v, want 5 dimensions", what, []int(sx))
	}
	n, c, s = sx[0], sx[1], sx[2]*sx[3]*sx[4]
	for _, v := range cs {
		if len(v) != c {
			return 0, 0, 0, fmt.Errorf("nn: %s: per-channel tensor of %d values for input %v", what, len(v), []int(sx))
		}
	}
	return n, c, s, nil
}

// bnChannelGrain is the number of channels per goroutine for channels of m values.
func bnChannelGrain(m int) int { return max(1, elementGrain/max(m, 1)) }

// channelStats returns the mean and 1/sqrt(var+eps) that normalise channel ch
// of x (N, C, S) (the batch's in training, the running statistics in
// evaluation), the biased batch variance (training only), and the moments of
// x and, when dy is not nil, of dy (masked by relu > 0 when relu is not nil).
// In evaluation without dy it reads no data.
func (c bnConfig) channelStats(x, dy, relu []float32, n, nc, s, ch int) (mean, invstd, variance float64, mo bnorm.Moments) {
	if !c.training {
		mean = float64(c.layer.RunningMean.Data()[ch])
		invstd = 1 / math.Sqrt(float64(c.layer.RunningVar.Data()[ch])+c.eps)
		if dy != nil {
			mo = bnorm.ChannelMoments(x, dy, relu, n, nc, s, ch, mean)
		}
		return mean, invstd, 0, mo
	}
	return bnorm.Batch(x, dy, relu, n, nc, s, ch, c.eps)
}

// checkRunning checks that the running buffers still fit C channels (a
// checkpoint load may have replaced them).
func (c bnConfig) checkRunning(what string, ch int) error {
	l := c.layer
	if len(l.RunningMean.Data()) != ch || len(l.RunningVar.Data()) != ch || len(l.NumBatchesTracked.Data()) != 1 {
		return fmt.Errorf("nn: %s %s: running statistics %v and %v do not fit %d channels", what, l.Name, l.RunningMean.Shape(), l.RunningVar.Shape(), ch)
	}
	return nil
}

// bnOp is the forward pass: (x, weight, bias) -> y. In training it updates
// the layer's running statistics as a side effect of Do.
type bnOp struct {
	opBase
	cfg bnConfig
	out outBuf
}

func (op *bnOp) Arity() int { return 3 }
func (op *bnOp) Type() hm.Type {
	return fnType(3, []int{5, 1, 1}, 5)
}
func (op *bnOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *bnOp) String() string        { return "BatchNorm3d(" + op.cfg.String() + ")" }
func (op *bnOp) Hashcode() uint32      { return hashOf(op.cfg.key("BatchNorm3d")) }
func (op *bnOp) WriteHash(h hash.Hash) { writeHash(h, op.cfg.key("BatchNorm3d")) }

func (op *bnOp) Do(vals ...G.Value) (G.Value, error) {
	what := "BatchNorm3d " + op.cfg.layer.Name
	if err := checkArity(what, 3, len(vals)); err != nil {
		return nil, err
	}
	x, sx, err := float32s(what, vals[0])
	if err != nil {
		return nil, err
	}
	gamma, _, err := float32s(what, vals[1])
	if err != nil {
		return nil, err
	}
	beta, _, err := float32s(what, vals[2])
	if err != nil {
		return nil, err
	}
	n, c, s, err := bnDims(what, sx, gamma, beta)
	if err != nil {
		return nil, err
	}
	if err := op.cfg.checkRunning("BatchNorm3d", c); err != nil {
		return nil, err
	}
	m := n * s
	if op.cfg.training && m < 2 {
		return nil, fmt.Errorf("nn: %s: expected more than 1 value per channel when training, got input %v", what, []int(sx))
	}
	out := op.out.take(false, sx...)
	defer op.out.put(out)
	y := out.Data().([]float32)
	rm, rv := op.cfg.layer.RunningMean.Data(), op.cfg.layer.RunningVar.Data()
	mom := op.cfg.momentum
	relu := op.cfg.relu
	parallel.For(c, bnChannelGrain(m), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, invstd, v, _ := op.cfg.channelStats(x, nil, nil, n, c, s, ch)
			if op.cfg.training {
				rm[ch] = float32((1-mom)*float64(rm[ch]) + mom*mean)
				rv[ch] = float32((1-mom)*float64(rv[ch]) + mom*v*float64(m)/float64(m-1))
			}
			bnorm.Normalize(y, x, n, c, s, ch, gamma[ch], beta[ch], mean, invstd, relu)
		}
	})
	op.cfg.cache.bump()
	if op.cfg.training {
		op.cfg.layer.NumBatchesTracked.Data()[0]++
	}
	return out, nil
}

func (op *bnOp) DiffWRT(int) []bool { return []bool{true, true, true} }

func (op *bnOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	x, gamma := inputs[0], inputs[1]
	// With a fused ReLU every gradient op also reads the output, whose sign
	// masks grad.
	tail := G.Nodes{grad}
	if op.cfg.relu {
		tail = G.Nodes{output, grad}
	}
	dx, err := G.ApplyOp(&bnGradOp{cfg: op.cfg, wrt: bnWRTInput}, append(G.Nodes{x, gamma}, tail...)...)
	if err != nil {
		return nil, err
	}
	dgamma, err := G.ApplyOp(&bnGradOp{cfg: op.cfg, wrt: bnWRTWeight}, append(G.Nodes{x}, tail...)...)
	if err != nil {
		return nil, err
	}
	dbeta, err := G.ApplyOp(&bnGradOp{cfg: op.cfg, wrt: bnWRTBias}, tail...)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, dgamma, dbeta}, nil
}

// Which gradient a bnGradOp computes. With a fused ReLU each op also takes
// the forward output y, just before dy.
const (
	bnWRTInput  = iota // dx from (x, weight, [y,] dy)
	bnWRTWeight        // dweight from (x, [y,] dy)
	bnWRTBias          // dbias from ([y,] dy)
)

// bnGradOp is one part of BatchNorm3d's backward pass. With xhat = (x - mean)
// * invstd and sums over N, T, H, W of one channel (M values):
//
//	dbias   = sum(dy)
//	dweight = sum(dy * xhat)
//	dx      = weight * invstd * (dy - dbias/M - xhat * dweight/M)   (training)
//	dx      = weight * invstd * dy                                  (evaluation)
//
// In training, mean and invstd are recomputed from x; in evaluation they come
// from the running statistics. With a fused ReLU, dy is first zeroed where
// the output y is not positive. The first of the input and weight gradient
// ops to run hands its per-channel sums to the others (bnCache).
type bnGradOp struct {
	opBase
	cfg bnConfig
	wrt int
	out outBuf
}

var bnGradNames = [...]string{"BatchNorm3dGradInput", "BatchNorm3dGradWeight", "BatchNorm3dGradBias"}

func (op *bnGradOp) Arity() int {
	if op.cfg.relu {
		return 4 - op.wrt
	}
	return 3 - op.wrt
}
func (op *bnGradOp) Type() hm.Type {
	var dims []int
	switch op.wrt {
	case bnWRTInput:
		dims = []int{5, 1, 5, 5}
	case bnWRTWeight:
		dims = []int{5, 5, 5}
	default:
		dims = []int{5, 5}
	}
	out := 5
	if op.wrt != bnWRTInput {
		out = 1
	}
	return fnType(op.Arity(), dims, out)
}
func (op *bnGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[0].(tensor.Shape)
	if !ok || len(s) != 5 {
		return nil, fmt.Errorf("nn: BatchNorm3d backward: shape %v, want 5 dimensions", in[0])
	}
	if op.wrt == bnWRTInput {
		return s.Clone(), nil
	}
	return tensor.Shape{s[1]}, nil
}
func (op *bnGradOp) String() string        { return bnGradNames[op.wrt] + "(" + op.cfg.String() + ")" }
func (op *bnGradOp) Hashcode() uint32      { return hashOf(op.cfg.key(bnGradNames[op.wrt])) }
func (op *bnGradOp) WriteHash(h hash.Hash) { writeHash(h, op.cfg.key(bnGradNames[op.wrt])) }

func (op *bnGradOp) Do(vals ...G.Value) (G.Value, error) {
	what := "BatchNorm3d backward " + op.cfg.layer.Name
	if err := checkArity(what, op.Arity(), len(vals)); err != nil {
		return nil, err
	}
	ts := make([][]float32, len(vals))
	shapes := make([]tensor.Shape, len(vals))
	for i, v := range vals {
		d, s, err := float32s(what, v)
		if err != nil {
			return nil, err
		}
		ts[i], shapes[i] = d, s
	}
	dy, sdy := ts[len(ts)-1], shapes[len(ts)-1]
	var relu []float32 // the forward output, whose sign masks dy
	if op.cfg.relu {
		relu = ts[len(ts)-2]
		if !sameShape(shapes[len(ts)-2], sdy) {
			return nil, fmt.Errorf("nn: %s: output %v and gradient %v differ in shape", what, []int(shapes[len(ts)-2]), []int(sdy))
		}
	}
	if op.wrt == bnWRTBias {
		n, c, s, err := bnDims(what, sdy)
		if err != nil {
			return nil, err
		}
		out := newFloat32(c)
		db := out.Data().([]float32)
		if st := op.cfg.cache.lookup(bnKey(nil, relu, dy)); st != nil && len(st) == c {
			for ch := range db {
				db[ch] = float32(st[ch].mo.SDY)
			}
			return out, nil
		}
		parallel.For(c, bnChannelGrain(n*s), func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				db[ch] = float32(bnChannelSum(dy, relu, n, c, s, ch))
			}
		})
		return out, nil
	}
	x, sx := ts[0], shapes[0]
	if !sameShape(sx, sdy) {
		return nil, fmt.Errorf("nn: %s: input %v and gradient %v differ in shape", what, []int(sx), []int(sdy))
	}
	var gamma []float32
	if op.wrt == bnWRTInput {
		gamma = ts[1]
	}
	n, c, s, err := bnDims(what, sx)
	if err != nil {
		return nil, err
	}
	if gamma != nil && len(gamma) != c {
		return nil, fmt.Errorf("nn: %s: weight %v for input %v", what, []int(shapes[1]), []int(sx))
	}
	if err := op.cfg.checkRunning("BatchNorm3d backward", c); err != nil {
		return nil, err
	}
	m := n * s
	if op.cfg.training && m < 2 {
		return nil, fmt.Errorf("nn: %s: expected more than 1 value per channel when training, got input %v", what, []int(sx))
	}
	key := bnKey(x, relu, dy)
	cached := op.cfg.cache.lookup(key)
	if cached != nil && len(cached) != c {
		cached = nil
	}
	// stats returns channel ch's statistics with dy's moments, from the
	// cache or computed (and then recorded in fresh).
	var fresh []bnStats
	if cached == nil {
		fresh = make([]bnStats, c)
	}
	stats := func(ch int) bnStats {
		if cached != nil {
			return cached[ch]
		}
		mean, invstd, _, mo := op.cfg.channelStats(x, dy, relu, n, c, s, ch)
		fresh[ch] = bnStats{mean: mean, invstd: invstd, mo: mo}
		return fresh[ch]
	}
	if op.wrt == bnWRTWeight {
		out := newFloat32(c)
		dg := out.Data().([]float32)
		parallel.For(c, bnChannelGrain(m), func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				st := stats(ch)
				dg[ch] = float32(st.invstd * st.mo.CentredDot(st.mean))
			}
		})
		if fresh != nil {
			op.cfg.cache.store(key, fresh)
		}
		return out, nil
	}
	out := op.out.take(false, sx...)
	defer op.out.put(out)
	dx := out.Data().([]float32)
	parallel.For(c, bnChannelGrain(m), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			if !op.cfg.training {
				_, invstd, _, _ := op.cfg.channelStats(x, nil, nil, n, c, s, ch)
				a := float64(gamma[ch]) * invstd
				for i := 0; i < n; i++ {
					off := (i*c + ch) * s
					for j, v := range dy[off : off+s] {
						if relu != nil && !(relu[off+j] > 0) {
							v = 0
						}
						dx[off+j] = float32(a * float64(v))
					}
				}
				continue
			}
			st := stats(ch)
			bnorm.InputGrad(dx, x, dy, relu, n, c, s, ch, gamma[ch], st.mean, st.invstd, st.mo)
		}
	})
	if op.cfg.training && fresh != nil {
		op.cfg.cache.store(key, fresh)
	}
	return out, nil
}

// bnChannelSum returns the sum of channel ch of t (N, C, S), counting only
// values where relu > 0 when relu is not nil.
func bnChannelSum(t, relu []float32, n, c, s, ch int) float64 {
	var sum float64
	for i := 0; i < n; i++ {
		off := (i*c + ch) * s
		if relu != nil {
			rs := relu[off : off+s]
			for j, v := range t[off : off+s] {
				if rs[j] > 0 {
					sum += float64(v)
				}
			}
			continue
		}
		for _, v := range t[off : off+s] {
			sum += float64(v)
		}
	}
	return sum
}

var _ Module = (*BatchNorm3dLayer)(nil)
