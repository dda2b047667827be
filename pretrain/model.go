package pretrain

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"

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

// Encoder is the network that pretraining trains under its heads: Forward
// maps clips (N, InChannels(), T, H, W) to features (N, FeatureDim()). A
// *resnet3d.Model without fc (NumClasses 0) is one; Config.NewEncoder
// makes one of the caller's.
type Encoder interface {
	nn.Module
	// InChannels returns the number of channels of the clips it takes: 1
	// or 3.
	InChannels() int
	// FeatureDim returns the width of its features: a positive multiple
	// of 4 (the projection head's widths are FeatureDim/2 and /4).
	FeatureDim() int
}

// Model is what pretraining trains: the encoder and its heads.
type Model struct {
	// Encoder is the video ResNet without fc of Config.Model, or the
	// encoder of Config.NewEncoder.
	Encoder Encoder
	// Projector maps the feature h to the projection z of NT-Xent.
	Projector *contrastive.ProjectionHead
	// Order predicts the frame order from h; nil without frame order.
	Order *pretext.OrderHead
}

// NewModel returns the model of cfg, initialised from cfg.Seed (encoder,
// then projector, then order head, from one random stream) as torchvision
// and torch.nn.Linear initialise theirs. The encoder is cfg.NewEncoder's
// when that is set, else resnet3d's of cfg.Model.
func NewModel(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, initStream))
	enc, err := newEncoder(cfg, rng)
	if err != nil {
		return nil, err
	}
	m := &Model{Encoder: enc}
	if m.Projector, err = contrastive.NewProjectionHead(enc.FeatureDim(), rng); err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	if cfg.Method.FrameOrder() {
		if m.Order, err = pretext.NewOrderHead(enc.FeatureDim(), cfg.ClipLength, rng); err != nil {
			return nil, fmt.Errorf("pretrain: %w", err)
		}
	}
	return m, nil
}

// newEncoder makes cfg's encoder from rng and checks what it says of
// itself.
func newEncoder(cfg Config, rng *rand.Rand) (Encoder, error) {
	if cfg.NewEncoder == nil {
		enc, err := resnet3d.New(cfg.Model, rng)
		if err != nil {
			return nil, fmt.Errorf("pretrain: %w", err)
		}
		return enc, nil
	}
	enc, err := cfg.NewEncoder(rng)
	if err != nil {
		return nil, fmt.Errorf("pretrain: new encoder: %w", err)
	}
	if v := reflect.ValueOf(enc); enc == nil || v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, fmt.Errorf("pretrain: new encoder: Config.NewEncoder returned no encoder")
	}
	if c := enc.InChannels(); c != 1 && c != 3 {
		return nil, fmt.Errorf("pretrain: new encoder: it takes %d channels, want 1 or 3", c)
	}
	if f := enc.FeatureDim(); f < 4 || f%4 != 0 {
		return nil, fmt.Errorf("pretrain: new encoder: feature size %d, want a positive multiple of 4", f)
	}
	return enc, nil
}

// encoderIdentity identifies an encoder of Config.NewEncoder in a run's
// identity: "<name> <shape>" for each of its Params (buffers included),
// sorted by name. Two encoders with the same ones load each other's
// weights; one whose layers differ in what their Params do not show (a
// stride, say) is the caller's to keep apart.
func encoderIdentity(enc Encoder) []string {
	var out []string
	for _, p := range enc.Params() {
		out = append(out, fmt.Sprintf("%s %v", p.Name, p.Shape()))
	}
	slices.Sort(out)
	return out
}

// checkEncoder reports an error unless enc takes clips of shape (N, C, T,
// H, W) and outputs features (N, FeatureDim), from its graph built but not
// run (nn.OutputShape), before a graph of it runs or goes to an Engine.
func checkEncoder(enc Encoder, shape [5]int) error {
	if shape[1] != enc.InChannels() {
		return fmt.Errorf("clips of shape %v: %d channels, the encoder takes %d", shape, shape[1], enc.InChannels())
	}
	out, err := nn.OutputShape(enc, shape[:]...)
	if err != nil {
		return fmt.Errorf("the encoder does not take clips of shape %v: %w", shape, err)
	}
	if len(out) != 2 || out[0] != shape[0] || out[1] != enc.FeatureDim() {
		return fmt.Errorf("the encoder outputs %v for clips of shape %v, want (%d, %d): FeatureDim features per clip", out, shape, shape[0], enc.FeatureDim())
	}
	return nil
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
// tensor. enc is usually a resnet3d.Model without fc, or with a new fc
// (Params "fc.weight", "fc.bias") that is left alone when skipFC is set, or
// the encoder of a Config.NewEncoder.
func LoadEncoder(path string, enc nn.Module, skipFC bool) (*nn.LoadReport, error) {
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
// written at. The model's encoder is resnet3d's of Config.Model; the
// checkpoint of an encoder of Config.NewEncoder is an error here (its
// names do not match): load it with LoadEncoder into that encoder.
func Load(path string) (*Model, Config, Position, error) {
	ck, err := nn.LoadCheckpoint(path)
	if err != nil {
		return nil, Config{}, Position{}, fmt.Errorf("pretrain: load: %w", err)
	}
	st, err := readState(path, ck.Metadata)
	if err != nil {
		return nil, Config{}, Position{}, err
	}
	if st.Encoder != nil {
		return nil, Config{}, Position{}, fmt.Errorf("pretrain: load %s: the checkpoint is of an encoder of Config.NewEncoder, not of Config.Model: load it with LoadEncoder into that encoder", path)
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
