// Package testmodel is a small 3-D CNN that a user might write with nn's
// layers, not from resnet3d, for the tests of the packages that run any
// nn.Module (gpu, finetune, pretrain): one definition of "a model of the
// caller's".
package testmodel

import (
	"math/rand/v2"

	G "gorgonia.org/gorgonia"

	"github.com/vidssl/vidssl/nn"
)

// Net uses every op kind of nn.Tape, and values with several consumers
// whose gradients an executor must sum (p feeds conv2, conv3 and the
// second residual add):
//
//	a = conv1(x)                      Conv3d 3x3x3, padding 1
//	b = relu(bn1(a))                  BatchNorm3d + ReLU (fused)
//	p = maxpool(b)                    MaxPool3d 1x2x2
//	r = relu(bn2(conv2(p)))           Conv3d, BatchNorm3d, ReLU (separate)
//	e = bn3(conv3(p))                 Conv3d 1x1x1 with stride 1, BatchNorm3d
//	s = relu((r + e) + p)             Add, then Add + ReLU (fused)
//	q = avgpool(s)                    AvgPool3d 2x2x2
//	f = flatten(globalavgpool(q))     GlobalAvgPool3d, Flatten
//	z = fc2(relu(fc1(f)))             Linear with bias, ReLU, Linear without bias
//
// Its Params are named "net.*". Clips need T >= 2, H >= 4 and W >= 4.
type Net struct {
	// The layers, named as in the diagram above.
	Conv1, Conv2, Conv3 *nn.Conv3dLayer
	BN1, BN2, BN3       *nn.BatchNorm3dLayer
	FC1, FC2            *nn.LinearLayer
	// ShareConv2 makes conv3 apply conv2's weight, a shared Param.
	ShareConv2 bool
	// Dropout adds nn.Dropout before fc2.
	Dropout bool
}

// New returns a Net that takes clips of in channels and outputs out values
// per clip, initialised from seed, with batch-norm affine parameters away
// from 1 and 0 so that their gradients are not special.
func New(seed uint64, in, out int) *Net {
	rng := rand.New(rand.NewPCG(seed, seed))
	m := &Net{
		Conv1: nn.NewConv3dLayer("net.conv1", in, 4, [3]int{3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, false, rng),
		BN1:   nn.NewBatchNorm3dLayer("net.bn1", 4),
		Conv2: nn.NewConv3dLayer("net.conv2", 4, 4, [3]int{3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}, false, rng),
		BN2:   nn.NewBatchNorm3dLayer("net.bn2", 4),
		Conv3: nn.NewConv3dLayer("net.conv3", 4, 4, [3]int{1, 1, 1}, [3]int{1, 1, 1}, [3]int{}, false, rng),
		BN3:   nn.NewBatchNorm3dLayer("net.bn3", 4),
		FC1:   nn.NewLinearLayer("net.fc1", 4, 3, true, rng),
		FC2:   nn.NewLinearLayer("net.fc2", 3, out, false, rng),
	}
	for _, l := range []*nn.BatchNorm3dLayer{m.BN1, m.BN2, m.BN3} {
		for i := range l.Weight.Data() {
			l.Weight.Data()[i] = float32(0.5 + rng.Float64())
			l.Bias.Data()[i] = float32(rng.Float64() - 0.5)
		}
	}
	return m
}

// InChannels returns the channels of the clips the Net takes.
func (m *Net) InChannels() int { return m.Conv1.Weight.Shape()[1] }

// FeatureDim returns the number of values the Net outputs per clip.
func (m *Net) FeatureDim() int { return m.FC2.Weight.Shape()[0] }

// Forward returns the output (N, FeatureDim) for clips x (N, InChannels,
// T, H, W).
func (m *Net) Forward(g *nn.Graph, x *G.Node) (*G.Node, error) {
	a, err := m.Conv1.Forward(g, x)
	if err != nil {
		return nil, err
	}
	b, err := m.BN1.ForwardReLU(g, a)
	if err != nil {
		return nil, err
	}
	p, err := nn.MaxPool3d(b, nn.PoolConfig{Name: "net.pool", Kernel: [3]int{1, 2, 2}})
	if err != nil {
		return nil, err
	}
	c, err := m.Conv2.Forward(g, p)
	if err != nil {
		return nil, err
	}
	d, err := m.BN2.Forward(g, c)
	if err != nil {
		return nil, err
	}
	r, err := nn.ReLU(d)
	if err != nil {
		return nil, err
	}
	var e *G.Node
	if m.ShareConv2 {
		e, err = nn.Conv3d(p, g.Bind(m.Conv2.Weight), nil, nn.ConvConfig{Name: "net.conv3", Padding: [3]int{1, 1, 1}})
	} else {
		e, err = m.Conv3.Forward(g, p)
	}
	if err != nil {
		return nil, err
	}
	if e, err = m.BN3.Forward(g, e); err != nil {
		return nil, err
	}
	s, err := nn.Add(r, e)
	if err != nil {
		return nil, err
	}
	if s, err = nn.AddReLU(s, p); err != nil {
		return nil, err
	}
	q, err := nn.AvgPool3d(s, nn.PoolConfig{Name: "net.avg", Kernel: [3]int{2, 2, 2}})
	if err != nil {
		return nil, err
	}
	if q, err = nn.GlobalAvgPool3d(q, "net.gap"); err != nil {
		return nil, err
	}
	f, err := nn.Flatten(q)
	if err != nil {
		return nil, err
	}
	h, err := m.FC1.Forward(g, f)
	if err != nil {
		return nil, err
	}
	if h, err = nn.ReLU(h); err != nil {
		return nil, err
	}
	if m.Dropout {
		if h, err = nn.Dropout(g, h, 0.5); err != nil {
			return nil, err
		}
	}
	return m.FC2.Forward(g, h)
}

// Params returns the Net's parameters and buffers, layer by layer.
func (m *Net) Params() []*nn.Param {
	var ps []*nn.Param
	for _, l := range []nn.Module{m.Conv1, m.BN1, m.Conv2, m.BN2, m.Conv3, m.BN3, m.FC1, m.FC2} {
		ps = append(ps, l.Params()...)
	}
	return ps
}
