package pretrain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/video"
)

// Alignment is how NT-Xent and the frame-order loss of MI-SimCLR+FO pull
// on a model's encoder: each loss's gradient with respect to the encoder's
// weights, summed over the same batches, and the two sums compared.
//
// Training steps down cw*NT-Xent + ow*order. With g_n and g_o the two
// gradients, r = (cw/ow)*Ratio and c = Cosine, plain gradient descent on
// the sum changes the order loss, to first order, in proportion to -(1 +
// r*c)*|g_o|^2: when the gradients point apart (c < 0) and NT-Xent's is
// the larger, 1 + r*c can be negative, and a step that lowers NT-Xent
// raises the order loss (and likewise the other way with 1 + c/r). Adam
// scales every weight's step by its own history, which this does not model.
type Alignment struct {
	// Batches is the number of batches measured.
	Batches int
	// NTXent and Order are the losses' means over the batches (Order
	// averaged over a pair's two views, as in training).
	NTXent, Order float64
	// Cosine is the cosine between the two summed gradients over all the
	// encoder's weights, Ratio the norm of NT-Xent's over the norm of the
	// order loss's (both losses unweighted). Either is 0 where a gradient
	// is zero.
	Cosine, Ratio float64
	// NTXentConsistency and OrderConsistency are each gradient's cosine
	// between its sums over the first and the second half of the batches:
	// how far the batches agree on its direction. Near 0 the gradient is
	// mostly batch noise, with no direction that many steps would follow
	// (its Cosine with the other, measured on the same batches, can still
	// be far from 0: the two share each batch's noise).
	NTXentConsistency, OrderConsistency float64
	// Layers break Cosine and Ratio down by the encoder's top-level modules
	// (the first part of a Param's name: "stem", "layer1", ...), in the
	// order of the encoder's Params.
	Layers []LayerAlignment
}

// LayerAlignment is Alignment's Cosine and Ratio over one top-level module
// of the encoder.
type LayerAlignment struct {
	Name          string
	Cosine, Ratio float64
}

// String formats a as one line, then a line per layer.
func (a Alignment) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d batches: NT-Xent %.3f, order %.3f; gradients: cosine %+.3f, |NT-Xent|/|order| %.2f; consistency across batches: NT-Xent %+.3f, order %+.3f",
		a.Batches, a.NTXent, a.Order, a.Cosine, a.Ratio, a.NTXentConsistency, a.OrderConsistency)
	for _, l := range a.Layers {
		fmt.Fprintf(&b, "\n  %-8s cosine %+.3f, ratio %.2f", l.Name, l.Cosine, l.Ratio)
	}
	return b.String()
}

// MeasureAlignment measures the Alignment of model's losses on the first
// batches batches (at least 2) of epoch of the loader TrainLoader(cfg, m)
// makes: cfg is the configuration model was trained with (Load returns it;
// set its Preprocess, Decode and CacheBytes as the run had them). It runs
// on the CPU, in training mode as a step does (batch norm with the batch's
// statistics), and leaves model as it was, running statistics included.
// The model must have a frame-order head (MI-SimCLR+FO). An epoch with
// fewer batches measures them all.
func MeasureAlignment(ctx context.Context, model *Model, cfg Config, m *video.Manifest, epoch, batches int) (Alignment, error) {
	switch {
	case model == nil || model.Encoder == nil || model.Projector == nil:
		return Alignment{}, errors.New("pretrain: alignment: no model (want one of NewModel or Load)")
	case model.Order == nil:
		return Alignment{}, errors.New("pretrain: alignment: the model has no frame-order head (want MI-SimCLR+FO)")
	case batches < 2:
		return Alignment{}, fmt.Errorf("pretrain: alignment: %d batches, want at least 2", batches)
	case epoch < 1:
		return Alignment{}, fmt.Errorf("pretrain: alignment: epoch %d, want >= 1", epoch)
	}
	cfg.Engine = nil
	loader, _, err := TrainLoader(cfg, m)
	if err != nil {
		return Alignment{}, err
	}
	batches = min(batches, loader.NumBatches())
	if batches < 2 {
		return Alignment{}, fmt.Errorf("pretrain: alignment: the epoch has %d batches, want at least 2", batches)
	}
	restore := saveBuffers(model)
	defer restore()

	var enc []string // the encoder's learnable Params' names, in order
	for _, p := range nn.Learnable(model.Encoder.Params()) {
		enc = append(enc, p.Name)
	}
	// halves[k][h] holds loss k's gradient summed over half h of the
	// batches (k: 0 NT-Xent, 1 order).
	var halves [2][2]map[string][]float64
	for k := range halves {
		for h := range halves[k] {
			halves[k][h] = map[string][]float64{}
		}
	}
	var progs [2]*stepGraph
	var recs [2]*gradRecorder
	defer func() {
		for _, s := range progs {
			if s != nil {
				s.prog.Close()
			}
		}
	}()
	var a Alignment
	for step, err := range loader.Batches(ctx, epoch) {
		if err != nil {
			return Alignment{}, fmt.Errorf("pretrain: alignment: %w", err)
		}
		if len(step.Views) != 2 || step.Views[0].Shape != step.Views[1].Shape {
			return Alignment{}, errors.New("pretrain: alignment: want two views of one shape per batch")
		}
		v1, v2 := step.Views[0], step.Views[1]
		if progs[0] == nil {
			if err := checkEncoder(model.Encoder, v1.Shape); err != nil {
				return Alignment{}, fmt.Errorf("pretrain: alignment: %w", err)
			}
			// One graph per loss, each with the other's weight 0, on the
			// same Params; an optimiser that only records the gradients.
			for k, w := range [2][2]float64{{1, 0}, {0, 1}} {
				c := cfg
				c.OrderWeight = w[1]
				recs[k] = &gradRecorder{}
				r := &runner{cfg: c, model: model, opt: recs[k]}
				if progs[k], err = r.build(v1.Shape, w[0]); err != nil {
					return Alignment{}, fmt.Errorf("pretrain: alignment: build the graph for batches %v: %w", v1.Shape, err)
				}
			}
		}
		half := a.Batches * 2 / batches
		for k, s := range progs {
			feeds := []nn.Feed{{Node: s.x1, Data: v1.Data}, {Node: s.x2, Data: v2.Data},
				{Node: s.y1, Data: labels(v1.Labels)}, {Node: s.y2, Data: labels(v2.Labels)}}
			if s.groups != nil {
				feeds = append(feeds, nn.Feed{Node: s.groups, Data: contrastive.GroupCodes(v1.Groups).Float32s()})
			}
			if _, err := s.prog.Run(ctx, feeds...); err != nil {
				return Alignment{}, fmt.Errorf("pretrain: alignment: %w", err)
			}
			if k == 0 {
				v, err := nn.ScalarValue(s.ntxent.Value())
				if err != nil {
					return Alignment{}, err
				}
				a.NTXent += float64(v)
			} else {
				c1, err1 := nn.ScalarValue(s.ce1.Value())
				c2, err2 := nn.ScalarValue(s.ce2.Value())
				if err := errors.Join(err1, err2); err != nil {
					return Alignment{}, err
				}
				a.Order += (float64(c1) + float64(c2)) / 2
			}
			for _, name := range enc {
				g, ok := recs[k].grads[name]
				if !ok {
					return Alignment{}, fmt.Errorf("pretrain: alignment: no gradient for %s", name)
				}
				sum := halves[k][half][name]
				if sum == nil {
					sum = make([]float64, len(g))
					halves[k][half][name] = sum
				}
				for i, v := range g {
					sum[i] += float64(v)
				}
			}
		}
		a.Batches++
		if a.Batches == batches {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return Alignment{}, err
	}
	if a.Batches < batches {
		return Alignment{}, fmt.Errorf("pretrain: alignment: the loader gave %d batches of %d", a.Batches, batches)
	}
	a.NTXent /= float64(a.Batches)
	a.Order /= float64(a.Batches)
	total := func(k int) map[string][]float64 {
		t := map[string][]float64{}
		for _, name := range enc {
			s := make([]float64, len(halves[k][0][name]))
			for _, h := range halves[k] {
				for i, v := range h[name] {
					s[i] += v
				}
			}
			t[name] = s
		}
		return t
	}
	gn, gorder := total(0), total(1)
	all := compareGradients(gn, gorder, enc)
	a.Cosine, a.Ratio = all.Cosine, all.Ratio
	a.NTXentConsistency = compareGradients(halves[0][0], halves[0][1], enc).Cosine
	a.OrderConsistency = compareGradients(halves[1][0], halves[1][1], enc).Cosine
	var layers []string
	byLayer := map[string][]string{}
	for _, name := range enc {
		l, _, _ := strings.Cut(name, ".")
		if byLayer[l] == nil {
			layers = append(layers, l)
		}
		byLayer[l] = append(byLayer[l], name)
	}
	for _, l := range layers {
		c := compareGradients(gn, gorder, byLayer[l])
		c.Name = l
		a.Layers = append(a.Layers, c)
	}
	return a, nil
}

// compareGradients returns the cosine between a and b over the Params
// names and the ratio of their norms, |a|/|b|; each is 0 where a norm is.
func compareGradients(a, b map[string][]float64, names []string) LayerAlignment {
	var dot, aa, bb float64
	for _, name := range names {
		x, y := a[name], b[name]
		for i := range x {
			dot += x[i] * y[i]
			aa += x[i] * x[i]
			bb += y[i] * y[i]
		}
	}
	var l LayerAlignment
	if aa > 0 && bb > 0 {
		l.Cosine = dot / math.Sqrt(aa*bb)
		l.Ratio = math.Sqrt(aa / bb)
	}
	return l
}

// gradRecorder is an nn.Optimizer that keeps a copy of the last gradients
// it was given, by Param name, and changes nothing.
type gradRecorder struct{ grads map[string][]float32 }

func (r *gradRecorder) Step(params []*nn.Param, grads []G.Value) error {
	s := make([][]float32, len(grads))
	for i, g := range grads {
		if g != nil {
			s[i], _ = g.Data().([]float32)
		}
	}
	return r.StepSlices(params, s)
}

func (r *gradRecorder) StepSlices(params []*nn.Param, grads [][]float32) error {
	if r.grads == nil {
		r.grads = map[string][]float32{}
	}
	for i, p := range params {
		if !p.Buffer && grads[i] != nil {
			r.grads[p.Name] = append(r.grads[p.Name][:0], grads[i]...)
		}
	}
	return nil
}

func (r *gradRecorder) State() map[string]*tensor.Dense         { return nil }
func (r *gradRecorder) SetState(map[string]*tensor.Dense) error { return nil }
func (r *gradRecorder) Reset()                                  { r.grads = nil }

// saveBuffers copies the model's buffers (batch norm's running statistics)
// and returns a function that puts them back.
func saveBuffers(m *Model) func() {
	bufs := nn.Buffers(slices.Concat(m.Encoder.Params(), m.heads()))
	saved := make([][]float32, len(bufs))
	for i, p := range bufs {
		saved[i] = append([]float32(nil), p.Data()...)
	}
	return func() {
		for i, p := range bufs {
			copy(p.Data(), saved[i])
		}
	}
}
