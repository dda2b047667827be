package gpu

import (
	"context"
	"fmt"
	"math"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/pretext"
	"github.com/vidssl/vidssl/resnet3d"
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

// SSLTrainer is pretrain's training step on an Engine: the encoder runs on
// each of two views separately (each batch norm normalises a view with its
// own statistics and updates its running statistics twice per step, view 1
// first), z = projector(h) for NT-Xent, the order head on h for frame
// order, backward through both views, and one Adam update of the summed
// gradients. Convolutions, batch norms, the heads' Linear layers (cuBLAS)
// and the cross-entropy run on the device; NT-Xent's (2m)^2 similarities,
// a few kilobytes, are computed on the host between the forward and the
// backward pass (contrastive.NTXentGrad), as are the scaled order
// gradients. SyncToHost copies the encoder's and the heads' state back.
type SSLTrainer struct {
	*net
	cfg             SSLConfig
	features, proj  int // h and z sizes
	classes         int // K!, 0 without an order head
	w0, w2, wo, bo  string
	heads           [2]*sslHead
	z1, z2, ob, dob []float32
	labelBuf        []float32
}

// sslHead is one view's head tensors.
type sslHead struct {
	a, z, dz, da, o, do, dfeatO, labels rows
}

// NewSSLTrainer prepares a self-supervised training step on e for pairs of
// batches of up to n clips of t x h x w: enc must be an R3D without fc
// (NumClasses 0), projector its projection head, and order its frame-order
// head or nil. It uploads every parameter and buffer, and opt's state when
// it has one for every parameter (all at the same step), and allocates every
// activation of both views.
func NewSSLTrainer(e *Engine, enc *resnet3d.Model, projector *contrastive.ProjectionHead, order *pretext.OrderHead, n, t, h, w int, cfg SSLConfig, opt *nn.Adam) (*SSLTrainer, error) {
	if enc == nil || projector == nil {
		return nil, fmt.Errorf("gpu: ssl trainer: nil encoder or projection head")
	}
	if enc.Config.NumClasses != 0 {
		return nil, fmt.Errorf("gpu: ssl trainer: encoder has %d classes, want 0 (no fc)", enc.Config.NumClasses)
	}
	for _, v := range []float64{cfg.Tau, cfg.ContrastiveWeight, cfg.OrderWeight} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, fmt.Errorf("gpu: ssl trainer: config %+v: want finite values >= 0", cfg)
		}
	}
	if !(cfg.Tau > 0) {
		return nil, fmt.Errorf("gpu: ssl trainer: temperature %v, want > 0", cfg.Tau)
	}
	f := enc.Config.FeatureDim()
	heads := projector.Params()
	tr := &SSLTrainer{cfg: cfg, features: f, proj: projector.OutDim(), w0: projector.First.Weight.Name, w2: projector.Second.Weight.Name}
	if s := projector.First.Weight.Shape(); len(s) != 2 || s[1] != f || projector.Second.Weight.Shape()[1] != s[0] {
		return nil, fmt.Errorf("gpu: ssl trainer: projection head %v -> %v for %d features", s, projector.Second.Weight.Shape(), f)
	}
	if order != nil {
		if order.Linear.Bias == nil || order.Linear.Weight.Shape()[1] != f {
			return nil, fmt.Errorf("gpu: ssl trainer: order head %v for %d features, want a bias", order.Linear.Weight.Shape(), f)
		}
		heads = append(heads, order.Params()...)
		tr.classes, tr.wo, tr.bo = order.Classes(), order.Linear.Weight.Name, order.Linear.Bias.Name
	}
	nt, err := newNet(e, enc, heads, n, t, h, w, 2, opt)
	if err != nil {
		return nil, err
	}
	tr.net = nt
	hidden := projector.First.Weight.Shape()[0]
	for k := range tr.heads {
		hd := &sslHead{}
		for _, r := range []struct {
			dst  *rows
			cols int
		}{{&hd.a, hidden}, {&hd.da, hidden}, {&hd.z, tr.proj}, {&hd.dz, tr.proj}, {&hd.o, tr.classes}, {&hd.do, tr.classes}, {&hd.dfeatO, f * min(tr.classes, 1)}} {
			if r.cols == 0 {
				continue
			}
			if r.dst.full, err = nt.alloc(n, r.cols); err != nil {
				nt.Close()
				return nil, err
			}
		}
		if tr.classes > 0 {
			if hd.labels.full, err = nt.alloc(n); err != nil {
				nt.Close()
				return nil, err
			}
		}
		tr.heads[k] = hd
	}
	return tr, nil
}

// bind sizes both views' tensors for m clips.
func (tr *SSLTrainer) bind(m int) error {
	for k, p := range tr.passes {
		if err := tr.net.bind(p, m); err != nil {
			return err
		}
		hd := tr.heads[k]
		for _, r := range []*rows{&hd.a, &hd.da, &hd.z, &hd.dz, &hd.o, &hd.do, &hd.dfeatO, &hd.labels} {
			if r.full == nil {
				continue
			}
			if err := r.bind(m); err != nil {
				return err
			}
		}
		if err := p.batchNormFits(); err != nil {
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
	clip := tr.passes[0].full.x.Len() / tr.n
	m := len(x1) / clip
	if m < 1 || m > tr.n || len(x1) != m*clip || len(x2) != len(x1) {
		return SSLLoss{}, fmt.Errorf("gpu: ssl trainer: views of %d and %d values, want m x %d values each (clips of %v), 1 <= m <= %d", len(x1), len(x2), clip, tr.passes[0].full.x.shape[1:], tr.n)
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
		if err := tr.forward(k, x); err != nil {
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
	for k, p := range tr.passes {
		hd := tr.heads[k]
		grads := p.grads
		if err := e.LinearBackward(hd.a.cur, tr.params[tr.w2], hd.dz.cur, hd.da.cur, grads[tr.w2], nil); err != nil {
			return out, err
		}
		if err := e.ReLUBackward(hd.a.cur, hd.da.cur, hd.da.cur); err != nil {
			return out, err
		}
		if err := e.LinearBackward(p.feat, tr.params[tr.w0], hd.da.cur, p.dfeat, grads[tr.w0], nil); err != nil {
			return out, err
		}
		if tr.classes > 0 {
			if err := e.LinearBackward(p.feat, tr.params[tr.wo], hd.do.cur, hd.dfeatO.cur, grads[tr.wo], grads[tr.bo]); err != nil {
				return out, err
			}
			if err := e.Add(p.dfeat, hd.dfeatO.cur, p.dfeat); err != nil {
				return out, err
			}
		}
		if err := tr.backward(p); err != nil {
			return out, err
		}
	}
	return out, tr.update(step)
}

// forward runs view k: the encoder, the projection head and the order head.
func (tr *SSLTrainer) forward(k int, x []float32) error {
	e, p, hd := tr.e, tr.passes[k], tr.heads[k]
	if err := e.Upload(p.x, x); err != nil {
		return err
	}
	if err := tr.net.forward(p, true); err != nil {
		return err
	}
	if err := e.Linear(p.feat, tr.params[tr.w0], nil, hd.a.cur); err != nil {
		return err
	}
	if err := e.ReLU(hd.a.cur, hd.a.cur); err != nil {
		return err
	}
	if err := e.Linear(hd.a.cur, tr.params[tr.w2], nil, hd.z.cur); err != nil {
		return err
	}
	if tr.classes > 0 {
		return e.Linear(p.feat, tr.params[tr.wo], tr.params[tr.bo], hd.o.cur)
	}
	return nil
}

// ntxent computes NT-Xent and its gradients on the host and uploads the
// gradients, scaled by ContrastiveWeight, into the heads' dz.
func (tr *SSLTrainer) ntxent(m int, groups []int, out *SSLLoss) error {
	e, d := tr.e, tr.proj
	tr.z1 = growTo(tr.z1, m*d)
	tr.z2 = growTo(tr.z2, m*d)
	if err := e.Download(tr.z1, tr.heads[0].z.cur); err != nil {
		return err
	}
	if err := e.Download(tr.z2, tr.heads[1].z.cur); err != nil {
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
		if err := e.Upload(tr.heads[k].dz.cur, dz); err != nil {
			return err
		}
	}
	return nil
}

// orderLoss runs view k's frame-order cross-entropy on the device, adds it
// and the view's hits to out, and scales its gradient by OrderWeight / 2.
func (tr *SSLTrainer) orderLoss(k int, labels []int, out *SSLLoss) error {
	e, hd, m := tr.e, tr.heads[k], len(labels)
	tr.labelBuf = growTo(tr.labelBuf, m)
	for i, l := range labels {
		if l < 0 || l >= tr.classes {
			return fmt.Errorf("gpu: ssl trainer: view %d clip %d: order class %d, want 0..%d", k+1, i, l, tr.classes-1)
		}
		tr.labelBuf[i] = float32(l)
	}
	if err := e.Upload(hd.labels.cur, tr.labelBuf); err != nil {
		return err
	}
	ce, err := e.CrossEntropy(hd.o.cur, hd.labels.cur, hd.do.cur)
	if err != nil {
		return err
	}
	out.Order += float64(ce)
	n := m * tr.classes
	tr.ob, tr.dob = growTo(tr.ob, n), growTo(tr.dob, n)
	if err := e.Download(tr.ob, hd.o.cur); err != nil {
		return err
	}
	acc, err := pretext.Accuracy(tr.ob, labels, tr.classes)
	if err != nil {
		return err
	}
	out.OrderHits += int(math.Round(acc * float64(m)))
	if err := e.Download(tr.dob, hd.do.cur); err != nil {
		return err
	}
	s := float32(tr.cfg.OrderWeight / 2)
	for i := range tr.dob {
		tr.dob[i] *= s
	}
	return e.Upload(hd.do.cur, tr.dob)
}
