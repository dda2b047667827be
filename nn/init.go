package nn

import (
	"math"
	"math/rand/v2"
)

// fans returns PyTorch's fan_in and fan_out of a weight shaped
// (out, in, k...) : fan_in = in*prod(k), fan_out = out*prod(k).
func fans(shape []int) (fanIn, fanOut int) {
	if len(shape) < 2 {
		return shape[0], shape[0]
	}
	receptive := 1
	for _, k := range shape[2:] {
		receptive *= k
	}
	return shape[1] * receptive, shape[0] * receptive
}

// KaimingNormalFanOut fills p with N(0, 2/fan_out), as PyTorch's
// kaiming_normal_(mode="fan_out", nonlinearity="relu"); torchvision uses it for
// every Conv3d of its video ResNets.
func KaimingNormalFanOut(p *Param, rng *rand.Rand) {
	_, fanOut := fans(p.Shape())
	Normal(p, 0, math.Sqrt(2/float64(fanOut)), rng)
}

// Normal fills p with N(mean, std^2) draws from rng.
func Normal(p *Param, mean, std float64, rng *rand.Rand) {
	d := p.Data()
	for i := range d {
		d[i] = float32(mean + std*rng.NormFloat64())
	}
}

// Uniform fills p with U(lo, hi) draws from rng.
func Uniform(p *Param, lo, hi float64, rng *rand.Rand) {
	d := p.Data()
	for i := range d {
		d[i] = float32(lo + (hi-lo)*rng.Float64())
	}
}

// Fill sets every element of p to v.
func Fill(p *Param, v float32) {
	d := p.Data()
	for i := range d {
		d[i] = v
	}
}

// DefaultUniform fills weight (and bias, when not nil) as PyTorch's default
// for nn.Linear and nn.Conv3d: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both
// (kaiming_uniform_ with a = sqrt(5) reduces to that bound for the weight).
func DefaultUniform(weight, bias *Param, rng *rand.Rand) {
	fanIn, _ := fans(weight.Shape())
	bound := 1 / math.Sqrt(float64(fanIn))
	Uniform(weight, -bound, bound, rng)
	if bias != nil {
		Uniform(bias, -bound, bound, rng)
	}
}
