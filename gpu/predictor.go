package gpu

import (
	"context"
	"fmt"

	"github.com/vidssl/vidssl/nn"
)

// Predictor runs a model in evaluation mode on an Engine (batch norm with
// the running statistics, no dropout): what evaluation needs, with no
// optimiser, no gradients, and activations that share memory once their
// last reader has run. The model is any nn.Module built from nn's layers,
// traced and compiled as for a Trainer; its Params are uploaded when the
// Predictor is made, so a model trained on the host afterwards needs a new
// Predictor.
type Predictor struct {
	nt   *net
	plan *tapePlan
}

// NewPredictor prepares m's evaluation-mode forward pass on e for batches
// of up to batch[0] clips of shape batch[1:] (C, T, H, W), and uploads the
// Params the model uses. The model's evaluation graph is traced, so
// Dropout layers, which do nothing there, are allowed. A batch that does
// not fit in device memory fails here.
func NewPredictor(e *Engine, m nn.Module, batch [5]int) (*Predictor, error) {
	tape, err := traceModule(m, batch[:], false)
	if err != nil {
		return nil, err
	}
	nt, err := newState(e, tape.Params(), 0, nil)
	if err != nil {
		return nil, err
	}
	p := &Predictor{nt: nt}
	if p.plan, err = compileTape(nt, nil, tape, batch[0]); err != nil {
		nt.Close()
		return nil, err
	}
	return p, nil
}

// OutputLen returns the number of values the model outputs per clip.
func (p *Predictor) OutputLen() int {
	t := p.plan.tape
	return numel(t.Shapes[t.Outputs[0]][1:])
}

// Predict runs the model on the clips of x (any number, OutputLen values
// each, in NCDHW order) and writes each clip's output into out, which holds
// OutputLen values per clip. The clips go through the model up to the
// Predictor's batch size at a time.
func (p *Predictor) Predict(ctx context.Context, x, out []float32) error {
	return predict(ctx, p.nt.e, p.plan, x, out)
}

// Close frees the Predictor's device memory. The engine stays open.
func (p *Predictor) Close() error { return p.nt.Close() }

// predict runs plan forward in evaluation mode over the clips of x, a
// batch at a time, into out.
func predict(ctx context.Context, e *Engine, plan *tapePlan, x, out []float32) error {
	t := plan.tape
	clipShape, clip := plan.clip()
	row := numel(t.Shapes[t.Outputs[0]][1:])
	if len(x)%clip != 0 || len(out) != len(x)/clip*row {
		return fmt.Errorf("gpu: predict: %d values and %d outputs, want %d values per clip (clips of %v) and %d outputs per clip", len(x), len(out), clip, clipShape, row)
	}
	clips := len(x) / clip
	for off := 0; off < clips; off += plan.n {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := min(plan.n, clips-off)
		if err := plan.bind(m); err != nil {
			return err
		}
		if err := e.Upload(plan.input(0), x[off*clip:(off+m)*clip]); err != nil {
			return err
		}
		if err := plan.forward(false); err != nil {
			return err
		}
		if err := e.Download(out[off*row:(off+m)*row], plan.output(0)); err != nil {
			return err
		}
	}
	return nil
}
