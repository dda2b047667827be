package pretrain

import (
	"context"
	"fmt"
	"math"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/video"
)

// deviceStep runs a training step on cfg.Engine with NT-Xent weighed by
// cw, making the trainer (from the model's and the optimiser's current
// state) at the first step and when cw changes; every batch has the first
// one's shape (DropLast).
func (r *runner) deviceStep(ctx context.Context, v1, v2 *video.Batch, cw float64) (stepOut, error) {
	cfg := r.cfg
	s := v1.Shape
	if r.dev != nil && r.devCW != cw {
		// The warm-up is over: the weights and Adam's state go back to the
		// host, and a trainer with the new weight takes them up.
		if err := r.dev.SyncToHost(); err != nil {
			return stepOut{}, fmt.Errorf("%s: %w", cfg.Engine.Name(), err)
		}
		r.dev.Close()
		r.dev = nil
	}
	if r.dev == nil {
		m := gpu.SSLModel{Encoder: r.model.Encoder, Projector: r.model.Projector}
		if r.model.Order != nil {
			m.Order = r.model.Order
		}
		tr, err := gpu.NewSSLTrainer(cfg.Engine, m, s,
			gpu.SSLConfig{Tau: cfg.Tau, ContrastiveWeight: cw, OrderWeight: cfg.OrderWeight}, r.opt)
		if err != nil {
			return stepOut{}, fmt.Errorf("%s: %w", cfg.Engine.Name(), err)
		}
		r.dev, r.devCW = tr, cw
	}
	var groups, l1, l2 []int
	if cfg.MaskSameGroup {
		groups = contrastive.GroupCodes(v1.Groups)
	}
	if r.model.Order != nil {
		l1, l2 = v1.Labels, v2.Labels
	}
	loss, err := r.dev.Step(ctx, v1.Data, v2.Data, groups, l1, l2)
	if err != nil {
		return stepOut{}, err
	}
	out := stepOut{loss: loss.Loss, ntxent: loss.NTXent, order: loss.Order}
	if r.model.Order != nil {
		out.hits, out.samples = loss.OrderHits, len(l1)+len(l2)
	}
	if math.IsNaN(out.loss) || math.IsInf(out.loss, 0) {
		return stepOut{}, fmt.Errorf("loss is %v", out.loss)
	}
	return out, nil
}
