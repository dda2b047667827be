package pretrain

import (
	"fmt"
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/nn"
	"github.com/vidssl/vidssl/pretext"
	"github.com/vidssl/vidssl/resnet3d"
)

// EncoderPrefix is prepended to the encoder's names in checkpoints
// ("encoder.stem.0.weight", ...), as in the public code's SimCLR
// state_dict; resnet3d.Model.LoadWeights strips it by default. The heads
// keep their own names ("projector.*", "reordering_head.*") and the
// optimiser's state is under OptimizerPrefix.
const (
	EncoderPrefix   = "encoder."
	OptimizerPrefix = "optimizer."
)

// initStream separates the initialisation's random stream from the data's.
const initStream = 0x1417a1c0de

// Model is what pretraining trains: the encoder and its heads.
type Model struct {
	// Encoder is the video ResNet without fc.
	Encoder *resnet3d.Model
	// Projector maps the feature h to the projection z of NT-Xent.
	Projector *contrastive.ProjectionHead
	// Order predicts the frame order from h; nil without frame order.
	Order *pretext.OrderHead
}

// NewModel returns the model of cfg, initialised from cfg.Seed (encoder,
// then projector, then order head, from one random stream) as torchvision
// and torch.nn.Linear initialise theirs.
func NewModel(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, initStream))
	enc, err := resnet3d.New(cfg.Model, rng)
	if err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	m := &Model{Encoder: enc}
	if m.Projector, err = contrastive.NewProjectionHead(cfg.Model.FeatureDim(), rng); err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	if cfg.Method.FrameOrder() {
		if m.Order, err = pretext.NewOrderHead(cfg.Model.FeatureDim(), cfg.ClipLength, rng); err != nil {
			return nil, fmt.Errorf("pretrain: %w", err)
		}
	}
	return m, nil
}

// heads returns the Params of the heads.
func (m *Model) heads() []*nn.Param {
	ps := m.Projector.Params()
	if m.Order != nil {
		ps = append(ps, m.Order.Params()...)
	}
	return ps
}

// State returns the model's tensors (shared, not copied) under their
// checkpoint names: the encoder's under EncoderPrefix, the heads' as they
// are.
func (m *Model) State() (map[string]*tensor.Dense, error) {
	enc, err := nn.ParamTensors(m.Encoder.Params())
	if err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	out := nn.WithPrefix(EncoderPrefix, enc)
	heads, err := nn.ParamTensors(m.heads())
	if err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	for k, v := range heads {
		out[k] = v
	}
	return out, nil
}

// setState copies a checkpoint's model tensors into m, strictly: every
// Param must be there with its shape. Names of other kinds (the optimiser's)
// must have been removed.
func (m *Model) setState(tensors map[string]*tensor.Dense) error {
	enc, rest := nn.SplitPrefix(EncoderPrefix, tensors)
	if _, err := nn.ApplyState(m.Encoder.Params(), enc, true); err != nil {
		return fmt.Errorf("encoder: %w", err)
	}
	if _, err := nn.ApplyState(m.heads(), rest, true); err != nil {
		return fmt.Errorf("heads: %w", err)
	}
	return nil
}

// LoadEncoder copies the encoder of a pretraining checkpoint at path (the
// tensors under EncoderPrefix) into enc, strictly: every Param of enc must be
// in the file with its shape, and the file must hold no other encoder
// tensor. enc is usually a resnet3d.Model without fc, or with a new fc that
// is left alone when skipFC is set.
func LoadEncoder(path string, enc *resnet3d.Model, skipFC bool) (*nn.LoadReport, error) {
	ck, err := nn.LoadCheckpoint(path)
	if err != nil {
		return nil, fmt.Errorf("pretrain: load encoder: %w", err)
	}
	tensors, _ := nn.SplitPrefix(EncoderPrefix, ck.Tensors)
	params := enc.Params()
	if skipFC {
		kept := params[:0:0]
		for _, p := range params {
			if p.Name != "fc.weight" && p.Name != "fc.bias" {
				kept = append(kept, p)
			}
		}
		params = kept
	}
	rep, err := nn.ApplyState(params, tensors, true)
	if err != nil {
		return rep, fmt.Errorf("pretrain: load encoder from %s: %w", path, err)
	}
	return rep, nil
}

// Load reads a pretraining checkpoint written by Run: its Config (without
// the function fields), the model with its weights, and the position it was
// written at.
func Load(path string) (*Model, Config, Position, error) {
	ck, err := nn.LoadCheckpoint(path)
	if err != nil {
		return nil, Config{}, Position{}, fmt.Errorf("pretrain: load: %w", err)
	}
	st, err := readState(path, ck.Metadata)
	if err != nil {
		return nil, Config{}, Position{}, err
	}
	m, err := NewModel(st.Config)
	if err != nil {
		return nil, Config{}, Position{}, fmt.Errorf("pretrain: load %s: %w", path, err)
	}
	_, model := nn.SplitPrefix(OptimizerPrefix, ck.Tensors)
	if err := m.setState(model); err != nil {
		return nil, Config{}, Position{}, fmt.Errorf("pretrain: load %s: %w", path, err)
	}
	return m, st.Config, st.Position, nil
}
