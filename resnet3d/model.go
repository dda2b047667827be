package resnet3d

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/nn"
)

// Config describes a video ResNet with BasicBlocks.
type Config struct {
	// InChannels is the number of input channels (3 for torchvision's weights).
	InChannels int
	// Width is the channel count of the stem and the first stage; stage i has
	// Width << i channels (64 for R3D-18, so 64, 128, 256, 512).
	Width int
	// Blocks is the number of BasicBlocks in each of the four stages
	// ({2, 2, 2, 2} for R3D-18).
	Blocks [4]int
	// NumClasses is the output size of the fc layer; 0 drops fc and makes the
	// model return the pooled feature (Width*8 values per clip).
	NumClasses int
}

// R3D18 returns torchvision's r3d_18 configuration with numClasses outputs
// (400 for Kinetics-400 weights, 1 for a binary task, 0 for features only).
func R3D18(numClasses int) Config {
	return Config{InChannels: 3, Width: 64, Blocks: [4]int{2, 2, 2, 2}, NumClasses: numClasses}
}

// FeatureDim is the size of the pooled feature h: the last stage's channels.
func (c Config) FeatureDim() int { return c.Width * 8 }

func (c Config) validate() error {
	if c.InChannels <= 0 || c.Width <= 0 || c.NumClasses < 0 {
		return fmt.Errorf("resnet3d: bad config %+v: InChannels and Width must be positive, NumClasses >= 0", c)
	}
	for i, b := range c.Blocks {
		if b <= 0 {
			return fmt.Errorf("resnet3d: bad config %+v: stage %d has %d blocks", c, i+1, b)
		}
	}
	return nil
}

// CheckInput reports an error when shape (N, C, T, H, W) cannot be a batch
// of clips for the model: a dimension that is not positive, or a channel
// count other than InChannels. Any positive T, H and W is fine: every
// convolution pads, so frames smaller than the network's stride (16 in
// space, 8 in time) shrink to one position, as in PyTorch. Check a shape
// before making a graph's input node with it, since a bad one panics there.
func (c Config) CheckInput(shape [5]int) error {
	for i, d := range shape {
		if d <= 0 {
			return fmt.Errorf("resnet3d: input shape %v: dimension %d (%c) is %d, want positive", shape, i, "NCTHW"[i], d)
		}
	}
	if shape[1] != c.InChannels {
		return fmt.Errorf("resnet3d: input shape %v: %d channels, the model takes %d", shape, shape[1], c.InChannels)
	}
	return nil
}

// Model is a video ResNet. Its Params carry torchvision's state_dict names.
type Model struct {
	// Config is the configuration the model was built with.
	Config Config
	stem   convBN
	stages [4][]*BasicBlock
	fc     *nn.LinearLayer
}

// convBN is a convolution followed by batch norm: torchvision's
// Sequential(Conv3d, BatchNorm3d) with names "<prefix>.0" and "<prefix>.1".
type convBN struct {
	conv *nn.Conv3dLayer
	bn   *nn.BatchNorm3dLayer
}

func newConvBN(prefix string, cin, cout int, kernel, stride, padding [3]int, rng *rand.Rand) convBN {
	return convBN{
		conv: nn.NewConv3dLayer(prefix+".0", cin, cout, kernel, stride, padding, false, rng),
		bn:   nn.NewBatchNorm3dLayer(prefix+".1", cout),
	}
}

func (c convBN) forward(g *nn.Graph, x *G.Node) (*G.Node, error) {
	y, err := c.conv.Forward(g, x)
	if err != nil {
		return nil, err
	}
	return c.bn.Forward(g, y)
}

// forwardReLU is forward followed by ReLU, fused into the batch norm op.
func (c convBN) forwardReLU(g *nn.Graph, x *G.Node) (*G.Node, error) {
	y, err := c.conv.Forward(g, x)
	if err != nil {
		return nil, err
	}
	return c.bn.ForwardReLU(g, y)
}

func (c convBN) params() []*nn.Param { return append(c.conv.Params(), c.bn.Params()...) }

// BasicBlock is torchvision's video BasicBlock: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)).
type BasicBlock struct {
	conv1, conv2 convBN
	downsample   *convBN
}

func newBasicBlock(prefix string, cin, cout, stride int, rng *rand.Rand) *BasicBlock {
	s := [3]int{stride, stride, stride}
	b := &BasicBlock{
		conv1: newConvBN(prefix+".conv1", cin, cout, [3]int{3, 3, 3}, s, [3]int{1, 1, 1}, rng),
		conv2: newConvBN(prefix+".conv2", cout, cout, [3]int{3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, rng),
	}
	if stride != 1 || cin != cout {
		d := newConvBN(prefix+".downsample", cin, cout, [3]int{1, 1, 1}, s, [3]int{}, rng)
		b.downsample = &d
	}
	return b
}

// Forward adds the block to g.
func (b *BasicBlock) Forward(g *nn.Graph, x *G.Node) (*G.Node, error) {
	y, err := b.conv1.forwardReLU(g, x)
	if err != nil {
		return nil, err
	}
	if y, err = b.conv2.forward(g, y); err != nil {
		return nil, err
	}
	short := x
	if b.downsample != nil {
		if short, err = b.downsample.forward(g, x); err != nil {
			return nil, err
		}
	}
	return nn.AddReLU(y, short)
}

// Params returns the block's parameters and buffers.
func (b *BasicBlock) Params() []*nn.Param {
	ps := append(b.conv1.params(), b.conv2.params()...)
	if b.downsample != nil {
		ps = append(ps, b.downsample.params()...)
	}
	return ps
}

// New builds a model with torchvision's initialisation, drawn from rng:
// Kaiming-normal (fan_out) convolutions, batch norm weight 1 and bias 0, fc
// weight N(0, 0.01^2) and bias 0.
func New(cfg Config, rng *rand.Rand) (*Model, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg}
	m.stem = newConvBN("stem", cfg.InChannels, cfg.Width, [3]int{3, 7, 7}, [3]int{1, 2, 2}, [3]int{1, 3, 3}, rng)
	// Nothing needs the gradient of the input clip; gorgonia would compute
	// it in every training step.
	m.stem.conv.NoInputGrad = true
	cin := cfg.Width
	for s := range m.stages {
		cout := cfg.Width << s
		for i := 0; i < cfg.Blocks[s]; i++ {
			stride := 1
			if s > 0 && i == 0 {
				stride = 2
			}
			m.stages[s] = append(m.stages[s], newBasicBlock(fmt.Sprintf("layer%d.%d", s+1, i), cin, cout, stride, rng))
			cin = cout
		}
	}
	if cfg.NumClasses > 0 {
		m.fc = nn.NewLinearLayer("fc", cfg.FeatureDim(), cfg.NumClasses, true, rng)
		nn.Normal(m.fc.Weight, 0, 0.01, rng)
		nn.Fill(m.fc.Bias, 0)
	}
	return m, nil
}

// Outputs holds the nodes of one forward pass that callers may need besides
// the result: the stage outputs (Grad-CAM hooks layer4) and the feature h.
type Outputs struct {
	// Stages are the outputs of layer1..layer4 (N, C, T, H, W).
	Stages [4]*G.Node
	// Features is the pooled feature h (N, FeatureDim).
	Features *G.Node
	// Logits is the fc output (N, NumClasses), nil when NumClasses == 0.
	Logits *G.Node
}

// ForwardAll adds the model to g for input x (N, InChannels, T, H, W) and
// returns every output node.
func (m *Model) ForwardAll(g *nn.Graph, x *G.Node) (*Outputs, error) {
	if s := x.Shape(); s.Dims() != 5 || s[1] != m.Config.InChannels {
		return nil, fmt.Errorf("resnet3d: input shape %v, want (N, %d, T, H, W)", []int(s), m.Config.InChannels)
	}
	y, err := m.stem.forwardReLU(g, x)
	if err != nil {
		return nil, fmt.Errorf("resnet3d: stem: %w", err)
	}
	return m.ForwardFrom(g, y, 0)
}

// ForwardFrom runs the model from the output of stage `after` (0 for the
// stem's output, 1-4 for layer1-layer4) to the end: the remaining stages,
// pooling and fc. Outputs.Stages holds only the stages it ran. Grad-CAM uses
// it to make a stage's output an input node of its own graph, since gorgonia
// differentiates only with respect to input nodes.
func (m *Model) ForwardFrom(g *nn.Graph, y *G.Node, after int) (*Outputs, error) {
	if after < 0 || after > 4 {
		return nil, fmt.Errorf("resnet3d: forward from stage %d, want 0 to 4", after)
	}
	var out Outputs
	var err error
	for s := after; s < 4; s++ {
		for i, b := range m.stages[s] {
			if y, err = b.Forward(g, y); err != nil {
				return nil, fmt.Errorf("resnet3d: layer%d.%d: %w", s+1, i, err)
			}
		}
		out.Stages[s] = y
	}
	if y, err = nn.GlobalAvgPool3d(y, "avgpool"); err != nil {
		return nil, fmt.Errorf("resnet3d: avgpool: %w", err)
	}
	if y, err = nn.Flatten(y); err != nil {
		return nil, fmt.Errorf("resnet3d: flatten: %w", err)
	}
	out.Features = y
	if m.fc != nil {
		if out.Logits, err = m.fc.Forward(g, y); err != nil {
			return nil, fmt.Errorf("resnet3d: fc: %w", err)
		}
	}
	return &out, nil
}

// Forward returns the logits, or the feature h when the model has no fc.
func (m *Model) Forward(g *nn.Graph, x *G.Node) (*G.Node, error) {
	out, err := m.ForwardAll(g, x)
	if err != nil {
		return nil, err
	}
	if out.Logits != nil {
		return out.Logits, nil
	}
	return out.Features, nil
}

// Params returns every parameter and buffer in torchvision's state_dict order.
func (m *Model) Params() []*nn.Param {
	ps := m.stem.params()
	for _, blocks := range m.stages {
		for _, b := range blocks {
			ps = append(ps, b.Params()...)
		}
	}
	if m.fc != nil {
		ps = append(ps, m.fc.Params()...)
	}
	return ps
}
