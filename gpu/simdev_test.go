package gpu

import (
	"errors"
	"fmt"
	"math"

	"github.com/vidssl/vidssl/internal/cuda"
)

// simDevice is a devAPI whose memory is a simMemory, whose kernels run in
// the PTX interpreter and whose sgemm is a CPU column-major SGEMM with
// cuBLAS's argument conventions. It has no cuDNN.
type simDevice struct {
	mem      simMemory
	mod      *simModule
	launches []string // kernel names, in order
	driver   int
	failPTX  string // a target whose module fails to load, to test the fallback
}

var errNoDNN = errors.New("gpu: no cuDNN in the simulator")

func (s *simDevice) do(f func() error) error { return f() }
func (s *simDevice) describe() string        { return "simulated device" }
func (s *simDevice) driverVersion() int      { return s.driver }
func (s *simDevice) alloc(bytes int) (uintptr, error) {
	if bytes <= 0 || bytes%4 != 0 {
		return 0, fmt.Errorf("sim: alloc %d bytes", bytes)
	}
	return uintptr(s.mem.alloc(make([]uint32, bytes/4))), nil
}
func (s *simDevice) free(p uintptr) error {
	k := int(p>>32) - 1
	if p&0xFFFFFFFF != 0 || k < 0 || k >= len(s.mem.allocs) || s.mem.allocs[k] == nil {
		return fmt.Errorf("sim: free of %#x", p)
	}
	s.mem.allocs[k] = nil
	return nil
}
func (s *simDevice) words(p uintptr, n int) ([]uint32, error) {
	w, err := s.mem.word(uint64(p))
	if err != nil {
		return nil, err
	}
	k := int(p>>32) - 1
	i := int(p&0xFFFFFFFF) / 4
	if i+n > len(s.mem.allocs[k]) {
		return nil, fmt.Errorf("sim: %d words at %#x overrun the allocation", n, p)
	}
	_ = w
	return s.mem.allocs[k][i : i+n], nil
}
func (s *simDevice) toDevice(dst uintptr, src []float32) error {
	w, err := s.words(dst, len(src))
	if err != nil {
		return err
	}
	for i, v := range src {
		w[i] = math.Float32bits(v)
	}
	return nil
}
func (s *simDevice) toHost(dst []float32, src uintptr) error {
	w, err := s.words(src, len(dst))
	if err != nil {
		return err
	}
	for i := range dst {
		dst[i] = math.Float32frombits(w[i])
	}
	return nil
}
func (s *simDevice) fill(dst uintptr, v float32, n int) error {
	w, err := s.words(dst, n)
	if err != nil {
		return err
	}
	for i := range w {
		w[i] = math.Float32bits(v)
	}
	return nil
}
func (s *simDevice) copyDevice(dst, src uintptr, n int) error {
	d, err := s.words(dst, n)
	if err != nil {
		return err
	}
	w, err := s.words(src, n)
	if err != nil {
		return err
	}
	copy(d, w)
	return nil
}
func (s *simDevice) sync() error                      { return nil }
func (s *simDevice) memInfo() (uint64, uint64, error) { return 1 << 30, 1 << 30, nil }
func (s *simDevice) dnn() (*cuda.Device, error)       { return nil, errNoDNN }
func (s *simDevice) close() error                     { return nil }
func (s *simDevice) loadKernels(ptx string, names []string) error {
	m, err := parsePTX(ptx)
	if err != nil {
		return err
	}
	if m.target == s.failPTX {
		return fmt.Errorf("sim: target %s unsupported", m.target)
	}
	for _, n := range names {
		if _, ok := m.entries[n]; !ok {
			return fmt.Errorf("sim: no kernel %s", n)
		}
	}
	s.mod = m
	return nil
}
func (s *simDevice) launch(name string, grid, block int, params []uint64) error {
	s.launches = append(s.launches, name)
	// Run a smaller grid than asked for when it is large: the kernels are
	// grid-stride loops, and this exercises the stride.
	return simRun(s.mod, name, min(grid, 2), min(block, 32), &s.mem, params)
}

func (s *simDevice) sgemm(transA, transB bool, m, n, k int, alpha float32, a uintptr, lda int, b uintptr, ldb int, beta float32, c uintptr, ldc int) error {
	ra, ca := m, k
	if transA {
		ra, ca = k, m
	}
	rb, cb := k, n
	if transB {
		rb, cb = n, k
	}
	if lda < max(1, ra) || ldb < max(1, rb) || ldc < max(1, m) {
		return fmt.Errorf("sim: sgemm leading dimensions %d, %d, %d too small", lda, ldb, ldc)
	}
	A, err := s.words(a, lda*(ca-1)+ra)
	if err != nil {
		return err
	}
	B, err := s.words(b, ldb*(cb-1)+rb)
	if err != nil {
		return err
	}
	C, err := s.words(c, ldc*(n-1)+m)
	if err != nil {
		return err
	}
	f := math.Float32frombits
	at := func(i, l int) float64 {
		if transA {
			return float64(f(A[l+i*lda]))
		}
		return float64(f(A[i+l*lda]))
	}
	bt := func(l, j int) float64 {
		if transB {
			return float64(f(B[j+l*ldb]))
		}
		return float64(f(B[l+j*ldb]))
	}
	for j := range n {
		for i := range m {
			var sum float64
			for l := range k {
				sum += at(i, l) * bt(l, j)
			}
			v := float64(alpha) * sum
			if beta != 0 {
				v += float64(beta) * float64(f(C[i+j*ldc]))
			}
			C[i+j*ldc] = math.Float32bits(float32(v))
		}
	}
	return nil
}

// newSimEngine returns a CUDA engine on a simulated device.
func newSimEngine(driver int) (*Engine, *simDevice, error) {
	dev := &simDevice{driver: driver}
	c := newCUDABackend(dev, CUDAOptions{})
	if err := c.init(); err != nil {
		return nil, nil, err
	}
	return newEngine(c), dev, nil
}
