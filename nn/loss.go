package nn

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Losses take their targets as graph nodes, so a training loop builds the
// graph once and binds new targets every step with gorgonia.Let (or by
// overwriting the data of the tensor the node holds), as it does its inputs.
// Targets are not differentiated. A loss whose value is NaN or infinite makes
// its op's Do return an error naming the loss and the first non-finite input,
// so the machine's run fails instead of training on garbage.

// BCEWithLogits returns the mean over all elements of the binary cross-entropy
// of sigmoid(logits) against targets, as torch.nn.BCEWithLogitsLoss(
// pos_weight=posWeight) with mean reduction:
//
//	loss_i = -(posWeight * t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x)))
//
// computed in the stable form (1 - t)*x + (1 + (posWeight-1)*t) *
// (log(1 + exp(-|x|)) + max(-x, 0)), so large |logits| are exact. logits and
// targets are float32 nodes of the same shape (N or N x 1); targets may be soft
// labels in [0, 1]. posWeight 1 weighs positives and negatives alike; it must
// be finite and not negative. The result is a float32 scalar node.
//
// targets is an ordinary node: a training loop builds the graph once and binds
// each batch's targets with gorgonia.Let, as it binds its inputs. Targets are
// not differentiated. When the loss is NaN or infinite, Do returns an error
// naming BCEWithLogits and the first non-finite logit or target, so the
// machine's run fails.
func BCEWithLogits(logits, targets *G.Node, posWeight float32) (*G.Node, error) {
	sl, st := tensor.Shape(shapeOf(logits)), tensor.Shape(shapeOf(targets))
	if len(sl) == 0 || !sameShape(sl, st) {
		return nil, fmt.Errorf("nn: BCEWithLogits: logits %v and targets %v: want the same non-scalar shape", []int(sl), []int(st))
	}
	pw := float64(posWeight)
	if math.IsNaN(pw) || math.IsInf(pw, 0) || pw < 0 {
		return nil, fmt.Errorf("nn: BCEWithLogits: pos_weight %v: want a finite value >= 0", posWeight)
	}
	n, err := G.ApplyOp(&bceOp{posWeight: posWeight, dims: len(sl)}, logits, targets)
	if err != nil {
		return nil, fmt.Errorf("nn: BCEWithLogits of %v: %w", []int(sl), err)
	}
	return n, nil
}

// CrossEntropy returns the mean over the N rows of logits (N x K) of
// -log_softmax(logits)[i, labels[i]], as torch.nn.CrossEntropyLoss with mean
// reduction (no ignore_index, no weights, no label smoothing). labels is a
// float32 node of shape (N) holding class indices in [0, K); [LabelTensor]
// makes its value from []int. A label that is not a whole number in range is
// an error from Do naming the sample. The result is a float32 scalar node.
//
// As for [BCEWithLogits], the labels node is re-bound with gorgonia.Let each
// step, and a NaN or infinite loss is an error from Do naming CrossEntropy
// and the first non-finite logit.
func CrossEntropy(logits, labels *G.Node) (*G.Node, error) {
	sl, sy := shapeOf(logits), shapeOf(labels)
	if len(sl) != 2 || len(sy) != 1 || sy[0] != sl[0] {
		return nil, fmt.Errorf("nn: CrossEntropy: logits %v and labels %v: want (N, K) and (N)", sl, sy)
	}
	n, err := G.ApplyOp(&crossEntropyOp{}, logits, labels)
	if err != nil {
		return nil, fmt.Errorf("nn: CrossEntropy of %v: %w", sl, err)
	}
	return n, nil
}

// LabelTensor returns class indices as the float32 tensor of shape (N) that
// [CrossEntropy]'s labels node holds (float32 holds integers exactly up to
// 2^24).
func LabelTensor(labels []int) *tensor.Dense {
	d := make([]float32, len(labels))
	for i, v := range labels {
		d[i] = float32(v)
	}
	return tensor.New(tensor.WithShape(len(labels)), tensor.WithBacking(d))
}

// nonFinite describes the first NaN or infinity in the named inputs, or says
// that the inputs are finite.
func nonFinite(names []string, data ...[]float32) string {
	for k, d := range data {
		for i, v := range d {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Sprintf("%s[%d] is %v", names[k], i, v)
			}
		}
	}
	return "inputs are finite"
}

// checkLoss returns an error when a loss value is NaN or infinite.
func checkLoss(loss string, v float64, names []string, data ...[]float32) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.IsNaN(float64(float32(v))) || math.IsInf(float64(float32(v)), 0) {
		return fmt.Errorf("nn: %s: loss is %v (%s)", loss, float32(v), nonFinite(names, data...))
	}
	return nil
}

// softplusNeg returns log(1 + exp(-x)) = log1p(exp(-|x|)) + max(-x, 0).
func softplusNeg(x float64) float64 { return math.Log1p(math.Exp(-math.Abs(x))) + math.Max(-x, 0) }

// sigmoidNeg returns sigmoid(-x) = 1/(1 + exp(x)) without overflow.
func sigmoidNeg(x float64) float64 {
	if x >= 0 {
		e := math.Exp(-x)
		return e / (1 + e)
	}
	return 1 / (1 + math.Exp(x))
}

// lossInputs reads a loss op's two tensor inputs and checks their sizes.
func lossInputs(what string, vals []G.Value, want int) (a, b []float32, sa, sb tensor.Shape, err error) {
	if err := checkArity(what, want, len(vals)); err != nil {
		return nil, nil, nil, nil, err
	}
	if a, sa, err = float32s(what, vals[0]); err != nil {
		return nil, nil, nil, nil, err
	}
	if b, sb, err = float32s(what, vals[1]); err != nil {
		return nil, nil, nil, nil, err
	}
	return a, b, sa, sb, nil
}

// bceOp is BCEWithLogits' forward pass: (logits, targets) -> scalar.
type bceOp struct {
	opBase
	posWeight float32
	dims      int
}

func (op *bceOp) Arity() int                                     { return 2 }
func (op *bceOp) Type() hm.Type                                  { return fnType(2, []int{op.dims, op.dims}, 0) }
func (op *bceOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }
func (op *bceOp) String() string {
	return fmt.Sprintf("BCEWithLogits%d(pos_weight=%v)", op.dims, op.posWeight)
}
func (op *bceOp) Hashcode() uint32      { return hashOf(op) }
func (op *bceOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *bceOp) Do(vals ...G.Value) (G.Value, error) {
	x, t, sx, st, err := lossInputs("BCEWithLogits", vals, 2)
	if err != nil {
		return nil, err
	}
	if !sameShape(sx, st) || len(x) == 0 {
		return nil, fmt.Errorf("nn: BCEWithLogits: logits %v and targets %v: want the same non-empty shape", []int(sx), []int(st))
	}
	loss := bce(x, t, op.posWeight, 0, nil)
	if err := checkLoss("BCEWithLogits", loss, []string{"logits", "targets"}, x, t); err != nil {
		return nil, err
	}
	return scalar32(float32(loss)), nil
}

func (op *bceOp) DiffWRT(int) []bool { return []bool{true, false} }

func (op *bceOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&bceGradOp{bceOp: *op}, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, nil}, nil
}

// bceGradOp is BCEWithLogits' gradient with respect to the logits:
// (logits, targets, dloss) -> dloss/M * ((1 - t) - (1 + (posWeight-1)*t) * sigmoid(-x)).
type bceGradOp struct{ bceOp }

func (op *bceGradOp) Arity() int { return 3 }
func (op *bceGradOp) Type() hm.Type {
	return fnType(3, []int{op.dims, op.dims, 0}, op.dims)
}
func (op *bceGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *bceGradOp) String() string {
	return fmt.Sprintf("BCEWithLogitsGrad%d(pos_weight=%v)", op.dims, op.posWeight)
}
func (op *bceGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *bceGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *bceGradOp) Do(vals ...G.Value) (G.Value, error) {
	x, t, sx, st, err := lossInputs("BCEWithLogits backward", vals, 3)
	if err != nil {
		return nil, err
	}
	if !sameShape(sx, st) || len(x) == 0 {
		return nil, fmt.Errorf("nn: BCEWithLogits backward: logits %v and targets %v: want the same non-empty shape", []int(sx), []int(st))
	}
	g, err := ScalarValue(vals[2])
	if err != nil {
		return nil, fmt.Errorf("nn: BCEWithLogits backward: %w", err)
	}
	out := newFloat32(sx...)
	bce(x, t, op.posWeight, float64(g), out.Data().([]float32))
	return out, nil
}

// bce returns the mean BCEWithLogits of logits x against targets t with
// posWeight, and, when dx is not nil, writes scale times its gradient into
// dx: scale/M * ((1 - t) - (1 + (posWeight-1)*t) * sigmoid(-x)).
func bce(x, t []float32, posWeight float32, scale float64, dx []float32) float64 {
	pw := float64(posWeight)
	s := scale / float64(len(x))
	var sum float64
	for i, xv := range x {
		xi, ti := float64(xv), float64(t[i])
		sum += (1-ti)*xi + (1+(pw-1)*ti)*softplusNeg(xi)
		if dx != nil {
			dx[i] = float32(s * ((1 - ti) - (1+(pw-1)*ti)*sigmoidNeg(xi)))
		}
	}
	return sum / float64(len(x))
}

// BCEWithLogitsGrad is [BCEWithLogits] on the host, for a loss computed
// outside a graph (as gpu's Trainer does with the logits of a step on an
// engine): it returns the mean over the logits of the loss against targets
// (the same length) with posWeight, and, when dlogits is not nil, writes
// scale times its gradient with respect to the logits into it (the same
// length). Empty or unequal lengths, a pos_weight that is negative or not
// finite, or a NaN or infinite loss is an error.
func BCEWithLogitsGrad(logits, targets []float32, posWeight float32, scale float64, dlogits []float32) (float64, error) {
	if len(logits) == 0 || len(targets) != len(logits) || (dlogits != nil && len(dlogits) != len(logits)) {
		return 0, fmt.Errorf("nn: BCEWithLogitsGrad: %d logits, %d targets and %d gradients: want the same non-zero length", len(logits), len(targets), len(dlogits))
	}
	if pw := float64(posWeight); math.IsNaN(pw) || math.IsInf(pw, 0) || pw < 0 {
		return 0, fmt.Errorf("nn: BCEWithLogitsGrad: pos_weight %v: want a finite value >= 0", posWeight)
	}
	loss := bce(logits, targets, posWeight, scale, dlogits)
	if err := checkLoss("BCEWithLogitsGrad", loss, []string{"logits", "targets"}, logits, targets); err != nil {
		return 0, err
	}
	return loss, nil
}

// crossEntropyOp is CrossEntropy's forward pass: (logits, labels) -> scalar.
type crossEntropyOp struct{ opBase }

func (op *crossEntropyOp) Arity() int    { return 2 }
func (op *crossEntropyOp) Type() hm.Type { return fnType(2, []int{2, 1}, 0) }
func (op *crossEntropyOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}
func (op *crossEntropyOp) String() string        { return "CrossEntropy" }
func (op *crossEntropyOp) Hashcode() uint32      { return hashOf(op) }
func (op *crossEntropyOp) WriteHash(h hash.Hash) { writeHash(h, op) }

// crossEntropyInputs reads and checks logits (N, K) and labels (N), returning
// the labels as indices.
func crossEntropyInputs(what string, vals []G.Value, arity int) (x []float32, labels []int, n, k int, err error) {
	x, y, sx, sy, err := lossInputs(what, vals, arity)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	if len(sx) != 2 || len(sy) != 1 || sy[0] != sx[0] || sx[0] == 0 || sx[1] == 0 {
		return nil, nil, 0, 0, fmt.Errorf("nn: %s: logits %v and labels %v: want (N, K) and (N), N, K > 0", what, []int(sx), []int(sy))
	}
	n, k = sx[0], sx[1]
	labels = make([]int, n)
	for i, v := range y {
		if f := float64(v); f != math.Trunc(f) || f < 0 || f >= float64(k) {
			return nil, nil, 0, 0, fmt.Errorf("nn: %s: labels[%d] = %v: want a class index in [0, %d) for logits %v", what, i, v, k, []int(sx))
		}
		labels[i] = int(v)
	}
	return x, labels, n, k, nil
}

// logSumExp returns log(sum(exp(row))) without overflow.
func logSumExp(row []float32) float64 {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, float64(v))
	}
	if math.IsInf(m, 0) {
		return m
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

func (op *crossEntropyOp) Do(vals ...G.Value) (G.Value, error) {
	x, labels, n, k, err := crossEntropyInputs("CrossEntropy", vals, 2)
	if err != nil {
		return nil, err
	}
	loss := crossEntropy(x, labels, n, k, 0, nil)
	if err := checkLoss("CrossEntropy", loss, []string{"logits"}, x); err != nil {
		return nil, err
	}
	return scalar32(float32(loss)), nil
}

func (op *crossEntropyOp) DiffWRT(int) []bool { return []bool{true, false} }

func (op *crossEntropyOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	dx, err := G.ApplyOp(&crossEntropyGradOp{}, inputs[0], inputs[1], grad)
	if err != nil {
		return nil, err
	}
	return G.Nodes{dx, nil}, nil
}

// crossEntropyGradOp is CrossEntropy's gradient with respect to the logits:
// (logits, labels, dloss) -> dloss/N * (softmax(logits) - onehot(labels)).
type crossEntropyGradOp struct{ opBase }

func (op *crossEntropyGradOp) Arity() int    { return 3 }
func (op *crossEntropyGradOp) Type() hm.Type { return fnType(3, []int{2, 1, 0}, 2) }
func (op *crossEntropyGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return in[0].(tensor.Shape).Clone(), nil
}
func (op *crossEntropyGradOp) String() string        { return "CrossEntropyGrad" }
func (op *crossEntropyGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *crossEntropyGradOp) WriteHash(h hash.Hash) { writeHash(h, op) }

func (op *crossEntropyGradOp) Do(vals ...G.Value) (G.Value, error) {
	x, labels, n, k, err := crossEntropyInputs("CrossEntropy backward", vals, 3)
	if err != nil {
		return nil, err
	}
	g, err := ScalarValue(vals[2])
	if err != nil {
		return nil, fmt.Errorf("nn: CrossEntropy backward: %w", err)
	}
	out := newFloat32(n, k)
	crossEntropy(x, labels, n, k, float64(g), out.Data().([]float32))
	return out, nil
}

// crossEntropy returns the mean cross-entropy of the n rows of x (n x k)
// against labels (checked), and, when dx is not nil, writes scale times its
// gradient into dx: scale/n * (softmax(row) - onehot(label)).
func crossEntropy(x []float32, labels []int, n, k int, scale float64, dx []float32) float64 {
	var sum float64
	s := scale / float64(n)
	for i, c := range labels {
		row := x[i*k : (i+1)*k]
		lse := logSumExp(row)
		sum += lse - float64(row[c])
		if dx == nil {
			continue
		}
		for j, v := range row {
			p := math.Exp(float64(v) - lse)
			if j == c {
				p--
			}
			dx[i*k+j] = float32(s * p)
		}
	}
	return sum / float64(n)
}

// CrossEntropyGrad is [CrossEntropy] on the host, for a loss computed
// outside a graph (as pretrain does on a GPU engine): it returns the mean
// over the len(labels) rows of logits (row-major, len(labels) x classes) of
// -log_softmax(row)[label], and, when dlogits is not nil, writes scale
// times the loss's gradient with respect to the logits into it (the same
// length as logits). Sizes that do not match, a label outside [0,
// classes) or a NaN or infinite loss is an error.
func CrossEntropyGrad(logits []float32, labels []int, classes int, scale float64, dlogits []float32) (float64, error) {
	n := len(labels)
	if n == 0 || classes < 1 || len(logits) != n*classes || (dlogits != nil && len(dlogits) != len(logits)) {
		return 0, fmt.Errorf("nn: CrossEntropyGrad: %d logits and %d gradients for %d labels of %d classes", len(logits), len(dlogits), n, classes)
	}
	for i, c := range labels {
		if c < 0 || c >= classes {
			return 0, fmt.Errorf("nn: CrossEntropyGrad: labels[%d] = %d: want a class index in [0, %d)", i, c, classes)
		}
	}
	loss := crossEntropy(logits, labels, n, classes, scale, dlogits)
	if err := checkLoss("CrossEntropyGrad", loss, []string{"logits"}, logits); err != nil {
		return 0, err
	}
	return loss, nil
}
