package gpu

import (
	"context"
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/pretext"
)

// SSLConfig are the self-supervised loss's settings, as in pretrain.Config:
// loss = ContrastiveWeight * NT-Xent(z1, z2; Tau) + OrderWeight * (CE(order
// logits 1) + CE(order logits 2)) / 2.
type SSLConfig struct {
	Tau                            float64
	ContrastiveWeight, OrderWeight float64
}

// SSLLoss is one self-supervised step's losses: the total, NT-Xent, and the
// frame-order cross-entropy (the mean over the two views; 0 without an
// order head), and how many of the step's 2m clips the order head ordered
// right.
type SSLLoss struct {
	Loss, NTXent, Order float64
	OrderHits           int
}

// SSLModel is what an SSLTrainer trains: an encoder from clips to features
// h (N, F), a projection head from h to z (N, D) for NT-Xent, and
// optionally a frame-order head from h to logits (N, K) (nil for none).
// Each is any nn.Module built from nn's layers (see NewTrainer), e.g.
// resnet3d.Model without fc, contrastive.ProjectionHead and
// pretext.OrderHead.
type SSLModel struct {
	// Encoder maps clips to features; Projector and Order map features to
	// the projection and the order logits.
	Encoder, Projector, Order nn.Module
}

// SSLTrainer is pretrain's training step on an Engine: the encoder runs on
// each of two views separately (each batch norm normalises a view with its
// own statistics and updates its running statistics twice per step, view 1
// first), z = projector(h) for NT-Xent, the order head on h for frame
// order, backward through both views, and one Adam update of the summed
// gradients. The model is traced once and compiled into engine calls, as
// for a Trainer; convolutions, batch norms, the heads' Linear layers
// (cuBLAS) and the cross-entropy run on the device; NT-Xent's (2m)^2
// similarities, a few kilobytes, are computed on the host between the
// forward and the backward pass (contrastive.NTXentGrad), as are the scaled
// order gradients. SyncToHost copies the encoder's and the heads' state
// back.
type SSLTrainer struct {
	*net
	cfg      SSLConfig
	proj     int // z size
	classes  int // order classes, 0 without an order head
	views    [2]*tapePlan
	labels   [2]rows
	z1, z2   []float32
	ob, dob  []float32
	labelBuf []float32
}

// NewSSLTrainer prepares a self-supervised training step on e for pairs of
// batches of up to batch[0] clips of shape batch[1:] (C, T, H, W). It
// traces the model, uploads every Param it uses and opt's state when it has
// one for every parameter (all at the same step), and allocates every
// activation of both views.
func NewSSLTrainer(e *Engine, m SSLModel, batch [5]int, cfg SSLConfig, opt *nn.Adam) (*SSLTrainer, error) {
	if m.Encoder == nil || m.Projector == nil {
		return nil, fmt.Errorf("gpu: ssl trainer: nil encoder or projection head")
	}
	for _, v := range []float64{cfg.Tau, cfg.ContrastiveWeight, cfg.OrderWeight} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, fmt.Errorf("gpu: ssl trainer: config %+v: want finite values >= 0", cfg)
		}
	}
	if !(cfg.Tau > 0) {
		return nil, fmt.Errorf("gpu: ssl trainer: temperature %v, want > 0", cfg.Tau)
	}
	tape, err := trace(m.params(), batch[:], true, m.forward)
	if err != nil {
		return nil, err
	}
	n := batch[0]
	tr := &SSLTrainer{cfg: cfg}
	for i, o := range tape.Outputs {
		if s := tape.Shapes[o]; len(s) != 2 {
			return nil, fmt.Errorf("gpu: ssl trainer: head %d's output is %v, want (%d, size)", i+1, s, n)
		}
	}
	tr.proj = tape.Shapes[tape.Outputs[0]][1]
	if m.Order != nil {
		tr.classes = tape.Shapes[tape.Outputs[1]][1]
	}
	if tr.net, err = newState(e, tape.Params(), 2, opt); err != nil {
		return nil, err
	}
	for k := range tr.views {
		if tr.views[k], err = compileTape(tr.net, tr.passes[k], tape, n); err == nil {
			err = tr.views[k].batchNormFits()
		}
		if err == nil && tr.classes > 0 {
			tr.labels[k].full, err = tr.net.alloc(n)
		}
		if err != nil {
			tr.net.Close()
			return nil, err
		}
	}
	return tr, nil
}

// params returns the Params of the encoder and the heads.
func (m SSLModel) params() []*nn.Param {
	ps := append(m.Encoder.Params(), m.Projector.Params()...)
	if m.Order != nil {
		ps = append(ps, m.Order.Params()...)
	}
	return ps
}

// forward adds the encoder and the heads to g: the projection z and, with
// an order head, the order logits.
func (m SSLModel) forward(g *nn.Graph, x *G.Node) ([]*G.Node, error) {
	h, err := m.Encoder.Forward(g, x)
	if err != nil {
		return nil, fmt.Errorf("encoder: %w", err)
	}
	if s := h.Shape(); s.Dims() != 2 {
		return nil, fmt.Errorf("the encoder's output is %v, want features (N, F) (an encoder without fc)", []int(s))
	}
	z, err := m.Projector.Forward(g, h)
	if err != nil {
		return nil, fmt.Errorf("projection head: %w", err)
	}
	outs := []*G.Node{z}
	if m.Order != nil {
		o, err := m.Order.Forward(g, h)
		if err != nil {
			return nil, fmt.Errorf("order head: %w", err)
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// bind sizes both views' tensors for m clips.
func (tr *SSLTrainer) bind(m int) error {
	for k, v := range tr.views {
		if err := v.bind(m); err != nil {
			return err
		}
		if tr.classes > 0 {
			if err := tr.labels[k].bind(m); err != nil {
				return err
			}
		}
		if err := v.batchNormFits(); err != nil {
			return err
		}
	}
	return nil
}

// Step runs one training step on a pair of batches: x1 and x2 hold m <= n
// clips each (the two views of m pairs, NCDHW), groups one id per pair for
// NT-Xent's same-group masking (nil: no masking), and order1 and order2
// each clip's frame-order class (nil without an order head). As on the CPU,
// a NaN or infinite loss or gradient is an error and changes no parameter
// (the running statistics are updated by the forward passes all the same).
func (tr *SSLTrainer) Step(ctx context.Context, x1, x2 []float32, groups, order1, order2 []int) (SSLLoss, error) {
	if err := ctx.Err(); err != nil {
		return SSLLoss{}, err
	}
	v0 := tr.views[0]
	clipShape, clip := v0.clip()
	m := len(x1) / clip
	if m < 1 || m > v0.n || len(x1) != m*clip || len(x2) != len(x1) {
		return SSLLoss{}, fmt.Errorf("gpu: ssl trainer: views of %d and %d values, want m x %d values each (clips of %v), 1 <= m <= %d", len(x1), len(x2), clip, clipShape, v0.n)
	}
	if groups != nil && len(groups) != m {
		return SSLLoss{}, fmt.Errorf("gpu: ssl trainer: %d group ids for %d pairs", len(groups), m)
	}
	if (tr.classes > 0) != (order1 != nil) || (order1 != nil && (len(order1) != m || len(order2) != m)) {
		return SSLLoss{}, fmt.Errorf("gpu: ssl trainer: %d and %d order labels for %d pairs with %d order classes", len(order1), len(order2), m, tr.classes)
	}
	if err := tr.bind(m); err != nil {
		return SSLLoss{}, err
	}
	step, err := tr.nextAdamStep()
	if err != nil {
		return SSLLoss{}, err
	}
	e := tr.e
	var out SSLLoss
	for k, x := range [][]float32{x1, x2} {
		if err := e.Upload(tr.views[k].input(0), x); err != nil {
			return out, err
		}
		if err := tr.views[k].forward(true); err != nil {
			return out, err
		}
	}
	if err := tr.ntxent(m, groups, &out); err != nil {
		return out, err
	}
	if tr.classes > 0 {
		for k, lab := range [][]int{order1, order2} {
			if err := tr.orderLoss(k, lab, &out); err != nil {
				return out, err
			}
		}
		out.Order /= 2
	}
	out.Loss = tr.cfg.ContrastiveWeight*out.NTXent + tr.cfg.OrderWeight*out.Order
	if math.IsNaN(out.Loss) || math.IsInf(out.Loss, 0) {
		return out, fmt.Errorf("gpu: ssl trainer: loss is %v (NT-Xent %v, order %v); no parameter was updated", out.Loss, out.NTXent, out.Order)
	}
	for _, v := range tr.views {
		if err := v.backward(); err != nil {
			return out, err
		}
	}
	return out, tr.update(step)
}

// ntxent computes NT-Xent and its gradients on the host and uploads the
// gradients, scaled by ContrastiveWeight, into the heads' dz.
func (tr *SSLTrainer) ntxent(m int, groups []int, out *SSLLoss) error {
	e, d := tr.e, tr.proj
	tr.z1 = growTo(tr.z1, m*d)
	tr.z2 = growTo(tr.z2, m*d)
	if err := e.Download(tr.z1, tr.views[0].output(0)); err != nil {
		return err
	}
	if err := e.Download(tr.z2, tr.views[1].output(0)); err != nil {
		return err
	}
	loss, dz1, dz2, err := contrastive.NTXentGrad(tr.z1, tr.z2, m, d, tr.cfg.Tau, groups)
	if err != nil {
		return fmt.Errorf("gpu: ssl trainer: %w", err)
	}
	out.NTXent = loss
	for k, dz := range [][]float32{dz1, dz2} {
		for i := range dz {
			dz[i] *= float32(tr.cfg.ContrastiveWeight)
		}
		if err := e.Upload(tr.views[k].outputGrad(0), dz); err != nil {
			return err
		}
	}
	return nil
}

// orderLoss runs view k's frame-order cross-entropy on the device, adds it
// and the view's hits to out, and scales its gradient by OrderWeight / 2.
func (tr *SSLTrainer) orderLoss(k int, labels []int, out *SSLLoss) error {
	e, v, m := tr.e, tr.views[k], len(labels)
	o, do := v.output(1), v.outputGrad(1)
	tr.labelBuf = growTo(tr.labelBuf, m)
	for i, l := range labels {
		if l < 0 || l >= tr.classes {
			return fmt.Errorf("gpu: ssl trainer: view %d clip %d: order class %d, want 0..%d", k+1, i, l, tr.classes-1)
		}
		tr.labelBuf[i] = float32(l)
	}
	if err := e.Upload(tr.labels[k].cur, tr.labelBuf); err != nil {
		return err
	}
	ce, err := e.CrossEntropy(o, tr.labels[k].cur, do)
	if err != nil {
		return err
	}
	out.Order += float64(ce)
	n := m * tr.classes
	tr.ob, tr.dob = growTo(tr.ob, n), growTo(tr.dob, n)
	if err := e.Download(tr.ob, o); err != nil {
		return err
	}
	acc, err := pretext.Accuracy(tr.ob, labels, tr.classes)
	if err != nil {
		return err
	}
	out.OrderHits += int(math.Round(acc * float64(m)))
	if err := e.Download(tr.dob, do); err != nil {
		return err
	}
	s := float32(tr.cfg.OrderWeight / 2)
	for i := range tr.dob {
		tr.dob[i] *= s
	}
	return e.Upload(do, tr.dob)
}
