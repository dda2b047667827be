package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// Sequential chains Modules: each layer's output is the next one's input, as
// torch.nn.Sequential. Its Params are its layers' Params concatenated in
// order; names are not prefixed, since every layer already carries its full
// state_dict names.
type Sequential struct {
	// Layers are applied in order.
	Layers []Module
}

// NewSequential returns a Sequential of the given layers.
func NewSequential(layers ...Module) *Sequential {
	return &Sequential{Layers: layers}
}

// Append adds layers at the end and returns s.
func (s *Sequential) Append(layers ...Module) *Sequential {
	s.Layers = append(s.Layers, layers...)
	return s
}

// Forward applies the layers in order. An error names the failing layer by
// index and type. A Sequential without layers returns x.
func (s *Sequential) Forward(g *Graph, x *G.Node) (*G.Node, error) {
	for i, l := range s.Layers {
		if l == nil {
			return nil, fmt.Errorf("nn: Sequential: layer %d is nil", i)
		}
		y, err := l.Forward(g, x)
		if err != nil {
			return nil, fmt.Errorf("nn: Sequential: layer %d (%T): %w", i, l, err)
		}
		x = y
	}
	return x, nil
}

// Params returns the layers' Params and buffers, layer by layer.
func (s *Sequential) Params() []*Param {
	var ps []*Param
	for _, l := range s.Layers {
		if l != nil {
			ps = append(ps, l.Params()...)
		}
	}
	return ps
}

// ParamsByName maps Params by name, checking that names are unique; it is
// StateDict for a plain list of Params.
func ParamsByName(params []*Param) (map[string]*Param, error) {
	out := make(map[string]*Param, len(params))
	for i, p := range params {
		if p == nil {
			return nil, fmt.Errorf("nn: params by name: Param %d is nil", i)
		}
		if _, dup := out[p.Name]; dup {
			return nil, fmt.Errorf("nn: params by name: duplicate name %q", p.Name)
		}
		out[p.Name] = p
	}
	return out, nil
}

// Learnable returns the Params that are not buffers, in order: the Params an
// optimiser updates.
func Learnable(params []*Param) []*Param {
	var out []*Param
	for _, p := range params {
		if p != nil && !p.Buffer {
			out = append(out, p)
		}
	}
	return out
}

// Buffers returns the Params that are buffers, in order.
func Buffers(params []*Param) []*Param {
	var out []*Param
	for _, p := range params {
		if p != nil && p.Buffer {
			out = append(out, p)
		}
	}
	return out
}
