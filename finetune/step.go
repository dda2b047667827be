package finetune

import (
	"context"
	"fmt"

	"github.com/vidssl/vidssl/gpu"
	"github.com/vidssl/vidssl/nn"
)

// stepper is a run's training step: on the CPU (cpuSteps) or on
// cfg.Engine (deviceSteps).
type stepper interface {
	// step trains on a batch of n clips and their labels and returns the
	// loss.
	step(ctx context.Context, n int, data, labels []float32) (float32, error)
	// sync copies the trained state into the model and the optimiser.
	sync() error
	// reset makes the next step start from the model's weights and the
	// optimiser's state (a new run of a sweep).
	reset()
	// lent returns what validates the weights being trained, or nil
	// for the model's own evaluation.
	lent() predictor
	close()
}

// cpuSteps are nn training programs, one per batch size, built on first
// use; their weights are the model's.
type cpuSteps struct {
	r      *runner
	graphs map[int]*trainGraph
}

func (c *cpuSteps) step(ctx context.Context, n int, data, labels []float32) (float32, error) {
	tg, err := c.graph(n)
	if err != nil {
		return 0, fmt.Errorf("build the graph for %d clips of %v: %w", n, c.r.shape, err)
	}
	return tg.prog.Run(ctx, nn.Feed{Node: tg.x, Data: data}, nn.Feed{Node: tg.y, Data: labels})
}

func (c *cpuSteps) sync() error     { return nil }
func (c *cpuSteps) reset()          {}
func (c *cpuSteps) lent() predictor { return nil }

func (c *cpuSteps) close() {
	for _, tg := range c.graphs {
		tg.prog.Close()
	}
	c.graphs = nil
}

// graph returns the training program for batches of n clips, building it
// on first use.
func (c *cpuSteps) graph(n int) (*trainGraph, error) {
	if tg, ok := c.graphs[n]; ok {
		return tg, nil
	}
	r := c.r
	s := r.shape
	g := nn.NewGraph(true, r.rng)
	x := g.Input("x", n, s[0], s[1], s[2], s[3])
	y := g.Input("y", n)
	logits, err := r.model.Forward(g, x)
	if err != nil {
		return nil, err
	}
	if logits, err = nn.Reshape(logits, n); err != nil {
		return nil, err
	}
	if logits, err = nn.Dropout(g, logits, r.cfg.DropoutP); err != nil {
		return nil, err
	}
	loss, err := nn.BCEWithLogits(logits, y, r.posWeight)
	if err != nil {
		return nil, err
	}
	prog, err := nn.NewTrainer(g, loss, r.opt)
	if err != nil {
		return nil, err
	}
	tg := &trainGraph{g: g, prog: prog, x: x, y: y}
	c.graphs[n] = tg
	return tg, nil
}

// deviceSteps are a gpu.Trainer on cfg.Engine, made by the first step of a
// run from the model's weights and the optimiser's state; between syncs
// the weights live on the engine.
type deviceSteps struct {
	r  *runner
	tr *gpu.Trainer
}

func (d *deviceSteps) step(ctx context.Context, n int, data, labels []float32) (float32, error) {
	r := d.r
	if d.tr == nil {
		// The first batch of an epoch is its largest.
		s := r.shape
		tr, err := gpu.NewTrainer(r.cfg.Engine, r.model, [5]int{n, s[0], s[1], s[2], s[3]}, r.posWeight, r.opt)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", r.cfg.Engine.Name(), err)
		}
		if err := tr.SetLogitDropout(r.cfg.DropoutP, r.rng); err != nil {
			tr.Close()
			return 0, err
		}
		d.tr = tr
	}
	return d.tr.Step(ctx, data, labels)
}

func (d *deviceSteps) sync() error {
	if d.tr == nil {
		return nil
	}
	if err := d.tr.SyncToHost(); err != nil {
		return fmt.Errorf("%s: %w", d.r.cfg.Engine.Name(), err)
	}
	return nil
}

func (d *deviceSteps) reset() {
	if d.tr != nil {
		d.tr.Close()
		d.tr = nil
	}
}

func (d *deviceSteps) lent() predictor {
	if d.tr == nil {
		return nil
	}
	return d.tr
}

func (d *deviceSteps) close() { d.reset() }
