package resnet3d

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/nn"
)

// Stem selects the network's first layers: torchvision's stem argument.
type Stem int

const (
	// BasicStem is Conv3d 3x7x7 (stride 1x2x2, padding 1x3x3) + BatchNorm3d
	// + ReLU to Width channels: the stem of R3D and MC3 (names stem.0,
	// stem.1).
	BasicStem Stem = iota
	// R2Plus1DStem factors the stem as R(2+1)D does: Conv3d 1x7x7 (stride
	// 1x2x2, padding 0x3x3) to Width*45/64 channels (45 for Width 64, at
	// least 1) + BatchNorm3d + ReLU, then Conv3d 3x1x1 (padding 1x0x0) to
	// Width channels + BatchNorm3d + ReLU (names stem.0, stem.1, stem.3,
	// stem.4).
	R2Plus1DStem
)

// String returns the torchvision class name of the stem.
func (s Stem) String() string {
	switch s {
	case BasicStem:
		return "BasicStem"
	case R2Plus1DStem:
		return "R2Plus1dStem"
	}
	return fmt.Sprintf("Stem(%d)", int(s))
}

// Block selects the residual block of every stage: torchvision's block
// argument.
type Block int

const (
	// BasicBlock is relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)) with two
	// convolutions of the stage's conv maker (names conv1.*, conv2.*); a
	// stage of planes channels outputs planes channels.
	BasicBlock Block = iota
	// Bottleneck is a 1x1x1 convolution to planes channels, the conv maker's
	// convolution (which carries the stride) and a 1x1x1 convolution to
	// 4*planes channels, each with batch norm and the first two with ReLU
	// (names conv1.*, conv2.*, conv3.*); a stage of planes channels outputs
	// 4*planes channels.
	Bottleneck
)

// String returns the torchvision class name of the block.
func (b Block) String() string {
	switch b {
	case BasicBlock:
		return "BasicBlock"
	case Bottleneck:
		return "Bottleneck"
	}
	return fmt.Sprintf("Block(%d)", int(b))
}

// expansion is the ratio of a block's output channels to its planes.
func (b Block) expansion() int {
	if b == Bottleneck {
		return 4
	}
	return 1
}

// ConvMaker selects how a block makes its spatio-temporal convolution:
// torchvision's conv_makers, one per stage.
type ConvMaker int

const (
	// Conv3DSimple is a full Conv3d 3x3x3 (stride s in every dimension): R3D.
	Conv3DSimple ConvMaker = iota
	// Conv3DNoTemporal is a Conv3d 1x3x3 (stride 1xsxs): MC3's later stages.
	// The shortcut's downsample keeps the time axis too.
	Conv3DNoTemporal
	// Conv2Plus1D factors the 3x3x3 convolution into a spatial Conv3d 1x3x3
	// (stride 1xsxs) to midplanes channels + BatchNorm3d + ReLU and a temporal
	// Conv3d 3x1x1 (stride sx1x1), with torchvision's midplanes =
	// (in*out*27) / (in*9 + 3*out) of the block's input and planes (names
	// <conv>.0.0, <conv>.0.1, <conv>.0.3): R(2+1)D.
	Conv2Plus1D
)

// String returns the torchvision class name of the conv maker.
func (c ConvMaker) String() string {
	switch c {
	case Conv3DSimple:
		return "Conv3DSimple"
	case Conv3DNoTemporal:
		return "Conv3DNoTemporal"
	case Conv2Plus1D:
		return "Conv2Plus1D"
	}
	return fmt.Sprintf("ConvMaker(%d)", int(c))
}

// downsampleStride is the stride of the 1x1x1 shortcut convolution of a block
// whose convolution has stride s: torchvision's get_downsample_stride.
func (c ConvMaker) downsampleStride(s int) [3]int {
	if c == Conv3DNoTemporal {
		return [3]int{1, s, s}
	}
	return [3]int{s, s, s}
}

// Config describes a video ResNet as torchvision's VideoResNet does: a stem,
// a block and a conv maker per stage, and the number of blocks per stage,
// plus the input channels, a width and the classes. The zero values of
// Stem, Block and Convs are R3D's, so a Config that sets only InChannels,
// Width, Blocks and NumClasses is the R3D it always was.
type Config struct {
	// InChannels is the number of input channels (3 for torchvision's weights).
	InChannels int
	// Width is the channel count of the stem and the first stage's planes;
	// stage i has Width << i planes (64 for the torchvision models, so 64,
	// 128, 256, 512).
	Width int
	// Blocks is the number of blocks in each of the four stages
	// ({2, 2, 2, 2} for the 18-layer models).
	Blocks [4]int
	// NumClasses is the output size of the fc layer; 0 drops fc and makes the
	// model return the pooled feature (FeatureDim values per clip).
	NumClasses int
	// Stem is the stem; the zero value is BasicStem.
	Stem Stem
	// Block is the residual block; the zero value is BasicBlock.
	Block Block
	// Convs are the conv makers of stages 1-4; the zero value is
	// Conv3DSimple in every stage.
	Convs [4]ConvMaker
}

// R3D18 returns torchvision's r3d_18 configuration with numClasses outputs
// (400 for Kinetics-400 weights, 1 for a binary task, 0 for features only):
// BasicStem, BasicBlocks of Conv3DSimple.
func R3D18(numClasses int) Config {
	return Config{InChannels: 3, Width: 64, Blocks: [4]int{2, 2, 2, 2}, NumClasses: numClasses}
}

// MC3_18 returns torchvision's mc3_18 configuration (mixed convolutions:
// Conv3DSimple in the first stage, Conv3DNoTemporal in the others) with
// numClasses outputs.
func MC3_18(numClasses int) Config {
	c := R3D18(numClasses)
	c.Convs = [4]ConvMaker{Conv3DSimple, Conv3DNoTemporal, Conv3DNoTemporal, Conv3DNoTemporal}
	return c
}

// R2Plus1D18 returns torchvision's r2plus1d_18 configuration (R2Plus1DStem,
// BasicBlocks of Conv2Plus1D) with numClasses outputs.
func R2Plus1D18(numClasses int) Config {
	c := R3D18(numClasses)
	c.Stem = R2Plus1DStem
	c.Convs = [4]ConvMaker{Conv2Plus1D, Conv2Plus1D, Conv2Plus1D, Conv2Plus1D}
	return c
}

// IsR3D reports whether c has R3D's structure (BasicStem, BasicBlock and
// Conv3DSimple in every stage), whatever its width, depth and classes.
func (c Config) IsR3D() bool {
	return c.Stem == BasicStem && c.Block == BasicBlock && c.Convs == [4]ConvMaker{}
}

// FeatureDim is the size of the pooled feature h: the last stage's channels
// (Width*8, times 4 with Bottleneck blocks).
func (c Config) FeatureDim() int { return c.Width * 8 * c.Block.expansion() }

// stemMid is the channel count between the two convolutions of
// R2Plus1DStem: torchvision's 45 at Width 64, scaled with the width.
func (c Config) stemMid() int { return max(1, c.Width*45/64) }

func (c Config) validate() error {
	if c.InChannels <= 0 || c.Width <= 0 || c.NumClasses < 0 {
		return fmt.Errorf("resnet3d: bad config %+v: InChannels and Width must be positive, NumClasses >= 0", c)
	}
	for i, b := range c.Blocks {
		if b <= 0 {
			return fmt.Errorf("resnet3d: bad config %+v: stage %d has %d blocks", c, i+1, b)
		}
	}
	if c.Stem != BasicStem && c.Stem != R2Plus1DStem {
		return fmt.Errorf("resnet3d: bad config: unknown stem %v", c.Stem)
	}
	if c.Block != BasicBlock && c.Block != Bottleneck {
		return fmt.Errorf("resnet3d: bad config: unknown block %v", c.Block)
	}
	for i, m := range c.Convs {
		if m != Conv3DSimple && m != Conv3DNoTemporal && m != Conv2Plus1D {
			return fmt.Errorf("resnet3d: bad config: stage %d has unknown conv maker %v", i+1, m)
		}
	}
	return nil
}

// CheckInput reports an error when shape (N, C, T, H, W) cannot be a batch
// of clips for the model: a dimension that is not positive, or a channel
// count other than InChannels. Any positive T, H and W is fine: every
// convolution pads, so frames smaller than the network's stride (16 in
// space; 8 in time for R3D and R(2+1)D, 1 for MC3) shrink to one position,
// as in PyTorch. Check a shape before making a graph's input node with it,
// since a bad one panics there.
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
	stages [4][]*block
	fc     *nn.LinearLayer
}

// convBN is one or more convolutions followed by batch norm: torchvision's
// Sequential(conv, BatchNorm3d, ...). Between consecutive convolutions sits
// a batch norm followed by ReLU (mids[i] after convs[i]), as in Conv2Plus1D
// and R2Plus1dStem.
type convBN struct {
	convs []*nn.Conv3dLayer
	mids  []*nn.BatchNorm3dLayer
	bn    *nn.BatchNorm3dLayer
}

// newConvBN is Sequential(Conv3d, BatchNorm3d) named "<prefix>.0" and
// "<prefix>.1".
func newConvBN(prefix string, cin, cout int, kernel, stride, padding [3]int, rng *rand.Rand) convBN {
	return convBN{
		convs: []*nn.Conv3dLayer{nn.NewConv3dLayer(prefix+".0", cin, cout, kernel, stride, padding, false, rng)},
		bn:    nn.NewBatchNorm3dLayer(prefix+".1", cout),
	}
}

// newMadeConvBN is Sequential(maker(cin, cout, mid, stride), BatchNorm3d):
// a block's conv1 or conv2.
func newMadeConvBN(prefix string, maker ConvMaker, cin, cout, mid, stride int, rng *rand.Rand) convBN {
	s := stride
	switch maker {
	case Conv3DNoTemporal:
		return newConvBN(prefix, cin, cout, [3]int{1, 3, 3}, [3]int{1, s, s}, [3]int{0, 1, 1}, rng)
	case Conv2Plus1D:
		return convBN{
			convs: []*nn.Conv3dLayer{
				nn.NewConv3dLayer(prefix+".0.0", cin, mid, [3]int{1, 3, 3}, [3]int{1, s, s}, [3]int{0, 1, 1}, false, rng),
				nn.NewConv3dLayer(prefix+".0.3", mid, cout, [3]int{3, 1, 1}, [3]int{s, 1, 1}, [3]int{1, 0, 0}, false, rng),
			},
			mids: []*nn.BatchNorm3dLayer{nn.NewBatchNorm3dLayer(prefix+".0.1", mid)},
			bn:   nn.NewBatchNorm3dLayer(prefix+".1", cout),
		}
	default:
		return newConvBN(prefix, cin, cout, [3]int{3, 3, 3}, [3]int{s, s, s}, [3]int{1, 1, 1}, rng)
	}
}

func (c convBN) forward(g *nn.Graph, x *G.Node, relu bool) (*G.Node, error) {
	y, err := c.convs[0].Forward(g, x)
	if err != nil {
		return nil, err
	}
	for i, mid := range c.mids {
		if y, err = mid.ForwardReLU(g, y); err != nil {
			return nil, err
		}
		if y, err = c.convs[i+1].Forward(g, y); err != nil {
			return nil, err
		}
	}
	if relu {
		// ReLU fused into the batch norm op.
		return c.bn.ForwardReLU(g, y)
	}
	return c.bn.Forward(g, y)
}

// params returns the parameters in torchvision's state_dict order.
func (c convBN) params() []*nn.Param {
	ps := c.convs[0].Params()
	for i, mid := range c.mids {
		ps = append(ps, mid.Params()...)
		ps = append(ps, c.convs[i+1].Params()...)
	}
	return append(ps, c.bn.Params()...)
}

// block is one residual block: relu(convs(x) + shortcut(x)), where every
// convBN but the last is followed by ReLU.
type block struct {
	convs      []convBN
	downsample *convBN
}

// newBlock builds torchvision's BasicBlock or Bottleneck named prefix
// (e.g. "layer2.0") from cin channels with planes planes.
func newBlock(prefix string, kind Block, maker ConvMaker, cin, planes, stride int, rng *rand.Rand) *block {
	mid := cin * planes * 27 / (cin*9 + 3*planes)
	b := &block{}
	if kind == Bottleneck {
		b.convs = []convBN{
			newConvBN(prefix+".conv1", cin, planes, [3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{}, rng),
			newMadeConvBN(prefix+".conv2", maker, planes, planes, mid, stride, rng),
			newConvBN(prefix+".conv3", planes, planes*4, [3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{}, rng),
		}
	} else {
		b.convs = []convBN{
			newMadeConvBN(prefix+".conv1", maker, cin, planes, mid, stride, rng),
			newMadeConvBN(prefix+".conv2", maker, planes, planes, mid, 1, rng),
		}
	}
	if cout := planes * kind.expansion(); stride != 1 || cin != cout {
		d := newConvBN(prefix+".downsample", cin, cout, [3]int{1, 1, 1}, maker.downsampleStride(stride), [3]int{}, rng)
		b.downsample = &d
	}
	return b
}

// forward adds the block to g.
func (b *block) forward(g *nn.Graph, x *G.Node) (*G.Node, error) {
	y := x
	var err error
	for i, c := range b.convs {
		if y, err = c.forward(g, y, i < len(b.convs)-1); err != nil {
			return nil, err
		}
	}
	short := x
	if b.downsample != nil {
		if short, err = b.downsample.forward(g, x, false); err != nil {
			return nil, err
		}
	}
	return nn.AddReLU(y, short)
}

// params returns the block's parameters and buffers.
func (b *block) params() []*nn.Param {
	var ps []*nn.Param
	for _, c := range b.convs {
		ps = append(ps, c.params()...)
	}
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
	if cfg.Stem == R2Plus1DStem {
		mid := cfg.stemMid()
		m.stem = convBN{
			convs: []*nn.Conv3dLayer{
				nn.NewConv3dLayer("stem.0", cfg.InChannels, mid, [3]int{1, 7, 7}, [3]int{1, 2, 2}, [3]int{0, 3, 3}, false, rng),
				nn.NewConv3dLayer("stem.3", mid, cfg.Width, [3]int{3, 1, 1}, [3]int{1, 1, 1}, [3]int{1, 0, 0}, false, rng),
			},
			mids: []*nn.BatchNorm3dLayer{nn.NewBatchNorm3dLayer("stem.1", mid)},
			bn:   nn.NewBatchNorm3dLayer("stem.4", cfg.Width),
		}
	} else {
		m.stem = newConvBN("stem", cfg.InChannels, cfg.Width, [3]int{3, 7, 7}, [3]int{1, 2, 2}, [3]int{1, 3, 3}, rng)
	}
	// Nothing needs the gradient of the input clip; gorgonia would compute
	// it in every training step.
	m.stem.convs[0].NoInputGrad = true
	cin := cfg.Width
	for s := range m.stages {
		planes := cfg.Width << s
		for i := 0; i < cfg.Blocks[s]; i++ {
			stride := 1
			if s > 0 && i == 0 {
				stride = 2
			}
			m.stages[s] = append(m.stages[s], newBlock(fmt.Sprintf("layer%d.%d", s+1, i), cfg.Block, cfg.Convs[s], cin, planes, stride, rng))
			cin = planes * cfg.Block.expansion()
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
	y, err := m.stem.forward(g, x, true)
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
			if y, err = b.forward(g, y); err != nil {
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

// InChannels returns the number of channels of the clips the model takes
// (Config.InChannels).
func (m *Model) InChannels() int { return m.Config.InChannels }

// FeatureDim returns the width of the pooled feature h
// (Config.FeatureDim): Forward's output when the model has no fc.
func (m *Model) FeatureDim() int { return m.Config.FeatureDim() }

// Params returns every parameter and buffer in torchvision's state_dict order.
func (m *Model) Params() []*nn.Param {
	ps := m.stem.params()
	for _, blocks := range m.stages {
		for _, b := range blocks {
			ps = append(ps, b.params()...)
		}
	}
	if m.fc != nil {
		ps = append(ps, m.fc.Params()...)
	}
	return ps
}
