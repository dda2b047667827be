package contrastive

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/nn"
)

// ProjectorName is the name of the projection head's parameters, the
// attribute name of the public code's SimCLR model (its state_dict holds
// "projector.0.weight" and "projector.2.weight").
const ProjectorName = "projector"

// ProjectionHead is SimCLR's projection g(h) = W2 relu(W1 h): Linear(F, F/2,
// no bias), ReLU, Linear(F/2, F/4, no bias), with F the encoder's feature
// size (512 -> 256 -> 128 for R3D-18, as in the paper; 32 -> 16 -> 8 for a
// width-4 encoder). Its parameters are "projector.0.weight" (F/2 x F) and
// "projector.2.weight" (F/4 x F/2), the names of the public code's
// torch.nn.Sequential, so weights move between the two without renaming.
type ProjectionHead struct {
	// First and Second are the two linear layers (indices 0 and 2 of the
	// Sequential; index 1 is the ReLU).
	First, Second *nn.LinearLayer
}

// NewProjectionHead returns the projection head for features-dimensional
// encoder features, initialised as torch.nn.Linear (see nn.DefaultUniform)
// from rng. features must be a positive multiple of 4.
func NewProjectionHead(features int, rng *rand.Rand) (*ProjectionHead, error) {
	if features < 4 || features%4 != 0 {
		return nil, fmt.Errorf("contrastive: projection head: %d features, want a positive multiple of 4", features)
	}
	return &ProjectionHead{
		First:  nn.NewLinearLayer(ProjectorName+".0", features, features/2, false, rng),
		Second: nn.NewLinearLayer(ProjectorName+".2", features/2, features/4, false, rng),
	}, nil
}

// OutDim returns the size of the projection z.
func (p *ProjectionHead) OutDim() int { return p.Second.Weight.Shape()[0] }

// Forward returns z for h of shape (N, F).
func (p *ProjectionHead) Forward(g *nn.Graph, h *G.Node) (*G.Node, error) {
	y, err := p.First.Forward(g, h)
	if err != nil {
		return nil, fmt.Errorf("contrastive: projection head: %w", err)
	}
	if y, err = nn.ReLU(y); err != nil {
		return nil, fmt.Errorf("contrastive: projection head: %w", err)
	}
	if y, err = p.Second.Forward(g, y); err != nil {
		return nil, fmt.Errorf("contrastive: projection head: %w", err)
	}
	return y, nil
}

// Params returns the two weights.
func (p *ProjectionHead) Params() []*nn.Param {
	return []*nn.Param{p.First.Weight, p.Second.Weight}
}

var _ nn.Module = (*ProjectionHead)(nil)
