package pretrain

import (
	"context"
	"fmt"
	"math"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/pretext"
	"github.com/vidssl/vidssl/video"
)

// deviceStep is the training step on cfg.Engine: the encoder and the
// heads run on the engine (a gpu.ViewTrainer, made at the first step from
// the model's and the optimiser's current state; every batch has the first
// one's shape, DropLast), and the loss is computed on the host by
// deviceLoss from the two views' outputs, with NT-Xent's weight of each
// step.
type deviceStep struct {
	r  *runner
	tr *gpu.ViewTrainer
}

func (d *deviceStep) step(ctx context.Context, v1, v2 *video.Batch, cw float64) (stepOut, error) {
	r := d.r
	cfg := r.cfg
	if d.tr == nil {
		m := gpu.MultiHead{Trunk: r.model.Encoder, Heads: []nn.Module{r.model.Projector}}
		if r.model.Order != nil {
			m.Heads = append(m.Heads, r.model.Order)
		}
		tr, err := gpu.NewViewTrainer(cfg.Engine, m, v1.Shape, 2, r.opt)
		if err != nil {
			return stepOut{}, fmt.Errorf("%s: %w", cfg.Engine.Name(), err)
		}
		d.tr = tr
	}
	l := deviceLoss{tau: cfg.Tau, cw: cw, ow: cfg.OrderWeight}
	if cfg.MaskSameGroup {
		l.groups = contrastive.GroupCodes(v1.Groups)
	}
	if r.model.Order != nil {
		l.labels, l.classes = [2][]int{v1.Labels, v2.Labels}, r.model.Order.Classes()
	}
	var out stepOut
	err := d.tr.Step(ctx, [][]float32{v1.Data, v2.Data}, func(o *gpu.Outputs) (err error) {
		out, err = l.grad(o)
		return err
	})
	return out, err
}

// sync copies the engine's weights, batch-norm statistics and optimiser state
// into the model and the optimiser.
func (d *deviceStep) sync() error {
	if d.tr == nil {
		return nil
	}
	if err := d.tr.SyncToHost(); err != nil {
		return fmt.Errorf("%s: %w", d.r.cfg.Engine.Name(), err)
	}
	return nil
}

func (d *deviceStep) close() {
	if d.tr != nil {
		d.tr.Close()
	}
}

// deviceLoss is the self-supervised loss of a step on an Engine, computed
// on the host from the outputs of the two views (the projections z, and
// the order logits with an order head), as the CPU's graph (runner.build)
// computes it: cw * NT-Xent(z1, z2; tau, groups) + ow * (CE(logits 1,
// labels 1) + CE(logits 2, labels 2)) / 2.
type deviceLoss struct {
	tau, cw, ow float64
	groups      contrastive.GroupIDs // nil: no masking
	labels      [2][]int             // each view's frame-order classes; nil without an order head
	classes     int
}

// grad computes the loss and its parts and writes its gradients with
// respect to the outputs into o.Grads.
func (l deviceLoss) grad(o *gpu.Outputs) (stepOut, error) {
	var out stepOut
	m := o.Rows
	ntx, dz1, dz2, err := contrastive.NTXentGrad(o.Values[0][0], o.Values[1][0], m, o.Sizes[0], l.tau, l.groups)
	if err != nil {
		return out, err
	}
	out.ntxent = ntx
	for k, dz := range [][]float32{dz1, dz2} {
		for i, v := range dz {
			o.Grads[k][0][i] = float32(l.cw) * v
		}
	}
	if l.labels[0] != nil {
		for k, labels := range l.labels {
			ce, err := nn.CrossEntropyGrad(o.Values[k][1], labels, l.classes, l.ow/2, o.Grads[k][1])
			if err != nil {
				return out, fmt.Errorf("frame order, view %d: %w", k+1, err)
			}
			out.order += ce / 2
			acc, err := pretext.Accuracy(o.Values[k][1], labels, l.classes)
			if err != nil {
				return out, err
			}
			out.hits += int(math.Round(acc * float64(m)))
			out.samples += m
		}
	}
	out.loss = l.cw*out.ntxent + l.ow*out.order
	if math.IsNaN(out.loss) || math.IsInf(out.loss, 0) {
		return out, fmt.Errorf("loss is %v", out.loss)
	}
	return out, nil
}
