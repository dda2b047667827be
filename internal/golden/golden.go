// Package golden loads reference tensors that PyTorch scripts wrote as JSON.
//
// A golden file is a JSON object mapping names to {"shape": [...], "data": [...]}
// (data flat, row-major). golden.py beside this file writes them; the scripts
// that make a package's goldens live in that package's testdata folder and run
// with Debian's /usr/bin/python3 (python3-torch).
package golden

import (
	"encoding/json"
	"fmt"
	"os"
)

// Tensor is one reference array.
type Tensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

// Float32 returns the data converted to float32.
func (t Tensor) Float32() []float32 {
	out := make([]float32, len(t.Data))
	for i, v := range t.Data {
		out[i] = float32(v)
	}
	return out
}

// Load reads a golden file and checks that every tensor's data fills its shape.
func Load(path string) (map[string]Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("golden: %w", err)
	}
	var m map[string]Tensor
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("golden: %s: %w", path, err)
	}
	for name, t := range m {
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if n != len(t.Data) {
			return nil, fmt.Errorf("golden: %s: %q has shape %v but %d values", path, name, t.Shape, len(t.Data))
		}
	}
	return m, nil
}
