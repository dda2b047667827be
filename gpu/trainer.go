package gpu

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

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
	*net
	pass      *pass
	posWeight float32

	// The head's tensors, one row per clip.
	y, logits, dlogits, dropped rows

	// Dropout on the logit (SetLogitDropout).
	dropP         float64
	dropRng       *rand.Rand
	mask, hostBuf []float32
}

// NewTrainer prepares a binary-classification training step on e for
// batches of up to n clips of t x h x w, as resnet3d.NewClassifierTrainer
// does on the CPU: the model must be an R3D (resnet3d.New's structure) with
// NumClasses == 1. It uploads the model's parameters and buffers, and opt's
// state when it has one for every parameter (all at the same step), and
// allocates every activation, so that a batch that does not fit in device
// memory fails here. opt's hyperparameters are read at every Step, so a
// learning-rate schedule may change them.
func NewTrainer(e *Engine, m *resnet3d.Model, n, t, h, w int, posWeight float32, opt *nn.Adam) (*Trainer, error) {
	if m == nil {
		return nil, fmt.Errorf("gpu: trainer: nil model")
	}
	if m.Config.NumClasses != 1 {
		return nil, fmt.Errorf("gpu: trainer: model has %d classes, want 1", m.Config.NumClasses)
	}
	if pw := float64(posWeight); math.IsNaN(pw) || math.IsInf(pw, 0) || pw < 0 {
		return nil, fmt.Errorf("gpu: trainer: pos_weight %v: want a finite value >= 0", posWeight)
	}
	nt, err := newNet(e, m, nil, n, t, h, w, 1, opt)
	if err != nil {
		return nil, err
	}
	tr := &Trainer{net: nt, pass: nt.passes[0], posWeight: posWeight}
	for _, r := range tr.head() {
		if r.full, err = nt.alloc(n, 1); err != nil {
			nt.Close()
			return nil, err
		}
	}
	if err := tr.bind(n); err != nil {
		nt.Close()
		return nil, err
	}
	return tr, nil
}

// bind sizes the encoder's and the head's tensors for m clips.
func (tr *Trainer) bind(m int) error {
	if err := tr.net.bind(tr.pass, m); err != nil {
		return err
	}
	for _, r := range tr.head() {
		if err := r.bind(m); err != nil {
			return err
		}
	}
	return nil
}

// head returns the head's tensors.
func (tr *Trainer) head() []*rows { return []*rows{&tr.y, &tr.logits, &tr.dlogits, &tr.dropped} }

// clipLen returns the number of values of one clip.
func (tr *Trainer) clipLen() int { return tr.pass.full.x.Len() / tr.n }

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

// droppedBCE is BCEWithLogits on the logits after dropout: the m logits
// come to the host, are masked and go back, and the loss's gradient is
// masked on the way back (m values each way; the step waits for the loss
// anyway).
func (tr *Trainer) droppedBCE() (float32, error) {
	e, m := tr.e, tr.pass.bound
	tr.mask, tr.hostBuf = growTo(tr.mask, m), growTo(tr.hostBuf, m)
	z := tr.hostBuf
	if err := e.Download(z, tr.logits.cur); err != nil {
		return 0, err
	}
	nn.DropoutMask(tr.dropRng, tr.dropP, tr.mask)
	for i := range z {
		z[i] *= tr.mask[i]
	}
	if err := e.Upload(tr.dropped.cur, z); err != nil {
		return 0, err
	}
	loss, err := e.BCEWithLogits(tr.dropped.cur, tr.y.cur, tr.dlogits.cur, tr.posWeight)
	if err != nil {
		return loss, err
	}
	if err := e.Download(z, tr.dlogits.cur); err != nil {
		return loss, err
	}
	for i := range z {
		z[i] *= tr.mask[i]
	}
	return loss, e.Upload(tr.dlogits.cur, z)
}

// Step runs one training step on a batch: x holds m <= n clips (m,
// InChannels, t, h, w) in NCDHW order and y their m 0/1 (or soft) targets.
// It returns the loss. As on the CPU, a NaN or infinite loss or gradient is
// an error and leaves the parameters unchanged (the batch-norm running
// statistics are updated by the forward pass all the same).
func (tr *Trainer) Step(ctx context.Context, x, y []float32) (float32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	clip := tr.clipLen()
	if m := len(y); m < 1 || m > tr.n || len(x) != m*clip {
		return 0, fmt.Errorf("gpu: trainer: batch of %d values and %d targets, want m x %d values (clips of %v) and m targets, 1 <= m <= %d", len(x), len(y), clip, tr.pass.full.x.shape[1:], tr.n)
	}
	if err := tr.bind(len(y)); err != nil {
		return 0, err
	}
	if err := tr.pass.batchNormFits(); err != nil {
		return 0, err
	}
	step, err := tr.nextAdamStep()
	if err != nil {
		return 0, err
	}
	e, p := tr.e, tr.pass
	if err := e.Upload(p.x, x); err != nil {
		return 0, err
	}
	if err := e.Upload(tr.y.cur, y); err != nil {
		return 0, err
	}
	if err := tr.forward(p, true); err != nil {
		return 0, err
	}
	if err := e.Linear(p.feat, tr.params["fc.weight"], tr.params["fc.bias"], tr.logits.cur); err != nil {
		return 0, err
	}
	var loss float32
	if tr.dropP > 0 {
		loss, err = tr.droppedBCE()
	} else {
		loss, err = e.BCEWithLogits(tr.logits.cur, tr.y.cur, tr.dlogits.cur, tr.posWeight)
	}
	if err != nil {
		return loss, err
	}
	if err := e.LinearBackward(p.feat, tr.params["fc.weight"], tr.dlogits.cur, p.dfeat, p.grads["fc.weight"], p.grads["fc.bias"]); err != nil {
		return loss, err
	}
	if err := tr.backward(p); err != nil {
		return loss, err
	}
	return loss, tr.update(step)
}

// Predict runs the model in evaluation mode (batch norm with the running
// statistics, no dropout) on the device's current weights and writes the
// logit of each clip of x into logits: x holds len(logits) clips, any
// number, which go through the network up to n at a time. It changes no
// weight or statistic.
func (tr *Trainer) Predict(ctx context.Context, x, logits []float32) error {
	clip := tr.clipLen()
	if len(x) != len(logits)*clip {
		return fmt.Errorf("gpu: predict: %d values for %d logits, want %d values per clip (clips of %v)", len(x), len(logits), clip, tr.pass.full.x.shape[1:])
	}
	e, p := tr.e, tr.pass
	for off := 0; off < len(logits); off += tr.n {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := min(tr.n, len(logits)-off)
		if err := tr.bind(m); err != nil {
			return err
		}
		if err := e.Upload(p.x, x[off*clip:(off+m)*clip]); err != nil {
			return err
		}
		if err := tr.forward(p, false); err != nil {
			return err
		}
		if err := e.Linear(p.feat, tr.params["fc.weight"], tr.params["fc.bias"], tr.logits.cur); err != nil {
			return err
		}
		if err := e.Download(logits[off:off+m], tr.logits.cur); err != nil {
			return err
		}
	}
	return nil
}
