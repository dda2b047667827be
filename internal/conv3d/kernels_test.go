package conv3d

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/vidssl/vidssl/internal/blas"
	"github.com/vidssl/vidssl/internal/tensorcmp"
)

// TestConv3dBackends checks the three kernels on every BLAS back end that
// loads (vidssl's SGEMM with its best and its generic micro-kernel and gonum
// always; OpenBLAS when present) against direct definitions, since the
// golden tests only see the default one.
func TestConv3dBackends(t *testing.T) {
	impls := []blas.Impl{blas.Go(), blas.GoGeneric(), blas.Gonum()}
	if ob, err := blas.OpenBLAS(); err == nil {
		impls = append(impls, ob)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, c := range []struct {
		x, w        []int
		stride, pad [3]int
	}{
		{[]int{2, 3, 4, 6, 5}, []int{4, 3, 3, 3, 3}, [3]int{1, 2, 1}, [3]int{1, 1, 0}},
		{[]int{2, 5, 3, 4, 5}, []int{4, 5, 1, 1, 1}, [3]int{1, 1, 1}, [3]int{}},
		{[]int{2, 4, 4, 5, 6}, []int{3, 4, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		{[]int{1, 2, 3, 4, 4}, []int{3, 2, 1, 2, 2}, [3]int{1, 1, 1}, [3]int{1, 2, 2}},
		// Odd batches, split over goroutines in unequal parts.
		{[]int{3, 3, 4, 7, 9}, []int{5, 3, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		{[]int{5, 3, 3, 9, 7}, []int{4, 3, 3, 7, 7}, [3]int{1, 2, 2}, [3]int{1, 3, 3}},
		{[]int{3, 4, 2, 6, 6}, []int{6, 4, 1, 1, 1}, [3]int{2, 2, 2}, [3]int{}},
		// Strided 1x1x1 (the downsample shortcut; strided.go): odd
		// sizes, stride 2 along W only, stride 3, and rows wider than
		// zeroRow can interleave.
		{[]int{2, 3, 3, 5, 7}, []int{4, 3, 1, 1, 1}, [3]int{2, 2, 2}, [3]int{}},
		{[]int{3, 2, 2, 3, 9}, []int{3, 2, 1, 1, 1}, [3]int{1, 1, 2}, [3]int{}},
		{[]int{2, 2, 5, 7, 8}, []int{5, 2, 1, 1, 1}, [3]int{3, 2, 3}, [3]int{}},
		{[]int{1, 2, 1, 2, 2051}, []int{3, 2, 1, 1, 1}, [3]int{1, 2, 2}, [3]int{}},
		// Stride 2 along W under the row-shift lowering (one matrix per
		// phase), with one frame, frames smaller than the kernel and odd
		// widths; 8 output channels (the dot-product weight gradient).
		{[]int{3, 3, 1, 5, 9}, []int{4, 3, 3, 7, 7}, [3]int{1, 2, 2}, [3]int{1, 3, 3}},
		{[]int{2, 2, 2, 4, 3}, []int{8, 2, 3, 3, 3}, [3]int{2, 2, 2}, [3]int{1, 1, 1}},
		{[]int{4, 3, 3, 6, 13}, []int{8, 3, 3, 5, 5}, [3]int{1, 1, 2}, [3]int{1, 2, 2}},
		{[]int{2, 2, 3, 5, 11}, []int{2, 2, 1, 2, 4}, [3]int{1, 1, 3}, [3]int{0, 1, 2}},
		{[]int{1, 2, 2, 3, 3}, []int{8, 2, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}}, // small batch: col2vol
		{[]int{1, 3, 4, 9, 8}, []int{2, 3, 3, 3, 1}, [3]int{2, 3, 2}, [3]int{1, 1, 0}},
		// Kernel taps that read only padding (trimmed): one frame (layer3
		// and layer4 at 4 frames), two frames at stride 2, one row too.
		{[]int{2, 4, 1, 5, 6}, []int{3, 4, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		{[]int{2, 3, 2, 5, 6}, []int{4, 3, 3, 3, 3}, [3]int{2, 2, 2}, [3]int{1, 1, 1}},
		{[]int{2, 3, 1, 1, 7}, []int{3, 3, 3, 3, 3}, [3]int{2, 1, 1}, [3]int{1, 1, 1}},
		{[]int{1, 2, 1, 1, 1}, []int{3, 2, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		// Frames whose temporal taps partly read padding (tapRuns): two
		// frames (row-shift), stride 2 (vol2col and col2vol), and frames
		// that read nothing but padding.
		{[]int{2, 3, 2, 5, 6}, []int{4, 3, 3, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		{[]int{2, 3, 3, 5, 6}, []int{4, 3, 3, 3, 3}, [3]int{2, 1, 2}, [3]int{1, 1, 1}},
		{[]int{1, 2, 1, 3, 3}, []int{3, 2, 1, 3, 3}, [3]int{1, 1, 1}, [3]int{1, 1, 1}},
		{[]int{1, 2, 1, 3, 3}, []int{3, 2, 1, 3, 3}, [3]int{1, 1, 2}, [3]int{1, 1, 1}},
	} {
		g := testGeom(c.x, c.w, c.stride, c.pad)
		xd, wd := randSlice(rng, size(g.X())), randSlice(rng, size(g.W()))
		dyd := randSlice(rng, size(g.Y()))
		wantY := make([]float32, size(g.Y()))
		naiveConv3d(&g, xd, wd, wantY)
		wantDx, wantDw := make([]float32, len(xd)), make([]float32, len(wd))
		naiveConv3dGrads(&g, xd, wd, dyd, wantDx, wantDw)
		for _, bl := range impls {
			t.Run(fmt.Sprintf("%s/%v", bl.Name(), c.w), func(t *testing.T) {
				eachPaths(t, func(t *testing.T) {
					y, dx, dw := make([]float32, len(wantY)), make([]float32, len(xd)), make([]float32, len(wd))
					// y and dx must be overwritten whole (ops reuse their
					// output tensors); dw is zeroed by contract.
					for _, d := range [][]float32{y, dx} {
						for i := range d {
							d[i] = float32(math.NaN())
						}
					}
					Forward(bl, &g, xd, wd, nil, y)
					BackwardData(bl, &g, wd, dyd, dx)
					BackwardFilter(bl, &g, xd, dyd, dw)
					tensorcmp.Approx(t, "y", wantY, y)
					tensorcmp.Approx(t, "dx", wantDx, dx)
					tensorcmp.Approx(t, "dw", wantDw, dw)
				})
			})
		}
	}
}

// naiveConv3dGrads computes the input and weight gradients of the
// convolution for the output gradient dy by their definitions, for tests.
func naiveConv3dGrads(g *Geom, x, w, dy, dx, dw []float32) {
	gx, gw := make([]float64, len(dx)), make([]float64, len(dw))
	for n := 0; n < g.n; n++ {
		for co := 0; co < g.cout; co++ {
			for to := 0; to < g.ot; to++ {
				for ho := 0; ho < g.oh; ho++ {
					for wo := 0; wo < g.ow; wo++ {
						d := float64(dy[(((n*g.cout+co)*g.ot+to)*g.oh+ho)*g.ow+wo])
						for ci := 0; ci < g.cin; ci++ {
							for kt := 0; kt < g.kt; kt++ {
								for kh := 0; kh < g.kh; kh++ {
									for kw := 0; kw < g.kw; kw++ {
										ti, hi, wi := to*g.st-g.pt+kt, ho*g.sh-g.ph+kh, wo*g.sw-g.pw+kw
										if ti < 0 || ti >= g.t || hi < 0 || hi >= g.h || wi < 0 || wi >= g.w {
											continue
										}
										xi := (((n*g.cin+ci)*g.t+ti)*g.h+hi)*g.w + wi
										wj := (((co*g.cin+ci)*g.kt+kt)*g.kh+kh)*g.kw + kw
										gx[xi] += d * float64(w[wj])
										gw[wj] += d * float64(x[xi])
									}
								}
							}
						}
					}
				}
			}
		}
	}
	for i, v := range gx {
		dx[i] = float32(v)
	}
	for i, v := range gw {
		dw[i] = float32(v)
	}
}

// testGeom returns the geometry of a convolution of x with w, shapes the
// tests have checked.
func testGeom(x, w []int, stride, pad [3]int) Geom { return New([5]int(x), [5]int(w), stride, pad) }

// fits reports whether a kernel w fits in x padded with pad.
func fits(x, w []int, pad [3]int) bool {
	for i := range pad {
		if w[2+i] > x[2+i]+2*pad[i] {
			return false
		}
	}
	return true
}

// size returns the number of values of a tensor of shape s.
func size(s [5]int) int { return s[0] * s[1] * s[2] * s[3] * s[4] }

// randSlice returns n standard normal values.
func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// eachPaths runs f under each of the kernels' paths (AllPaths).
func eachPaths(t *testing.T, f func(t *testing.T)) {
	for _, p := range AllPaths() {
		t.Run(p.String(), func(t *testing.T) { p.Use(func() { f(t) }) })
	}
}

// naiveConv3d is the definition of the convolution, for tests.
func naiveConv3d(g *Geom, x, w, y []float32) {
	for n := 0; n < g.n; n++ {
		for co := 0; co < g.cout; co++ {
			for to := 0; to < g.ot; to++ {
				for ho := 0; ho < g.oh; ho++ {
					for wo := 0; wo < g.ow; wo++ {
						var s float64
						for ci := 0; ci < g.cin; ci++ {
							for kt := 0; kt < g.kt; kt++ {
								for kh := 0; kh < g.kh; kh++ {
									for kw := 0; kw < g.kw; kw++ {
										ti, hi, wi := to*g.st-g.pt+kt, ho*g.sh-g.ph+kh, wo*g.sw-g.pw+kw
										if ti < 0 || ti >= g.t || hi < 0 || hi >= g.h || wi < 0 || wi >= g.w {
											continue
										}
										s += float64(x[(((n*g.cin+ci)*g.t+ti)*g.h+hi)*g.w+wi]) * float64(w[(((co*g.cin+ci)*g.kt+kt)*g.kh+kh)*g.kw+kw])
									}
								}
							}
						}
						y[(((n*g.cout+co)*g.ot+to)*g.oh+ho)*g.ow+wo] = float32(s)
					}
				}
			}
		}
	}
}

// TestConv3dConcurrent runs each kernel from several goroutines, as two machines
// over one graph would, to catch races on scratch buffers (go test -race).
func TestConv3dConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, c := range []struct {
		x, w   []int
		stride [3]int
	}{
		{[]int{2, 3, 4, 6, 5}, []int{4, 3, 3, 3, 3}, [3]int{1, 1, 1}}, // row-shift, transposed input gradient
		{[]int{2, 3, 4, 6, 5}, []int{4, 3, 3, 3, 3}, [3]int{1, 1, 2}}, // phases, vol2col, col2vol
	} {
		g := testGeom(c.x, c.w, c.stride, [3]int{1, 1, 1})
		x, w := randSlice(rng, size(g.X())), randSlice(rng, size(g.W()))
		if _, ok := g.transposed(false); ok != (c.stride[2] == 1) || g.shiftable() != (c.stride[2] == 1) {
			t.Fatalf("stride %v: not the intended paths", c.stride)
		}
		dy := randSlice(rng, size(g.Y()))
		bl := blas.MustDefault()
		runs := []func() []float32{
			func() []float32 { y := make([]float32, len(dy)); Forward(bl, &g, x, w, nil, y); return y },
			func() []float32 { dx := make([]float32, len(x)); BackwardData(bl, &g, w, dy, dx); return dx },
			func() []float32 { dw := make([]float32, len(w)); BackwardFilter(bl, &g, x, dy, dw); return dw },
		}
		for i, run := range runs {
			want := run()
			var wg sync.WaitGroup
			for j := 0; j < 4; j++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := 0; k < 5; k++ {
						if got := run(); !slices.Equal(want, got) {
							t.Errorf("kernel %d: a concurrent call gave a different result", i)
							return
						}
					}
				}()
			}
			wg.Wait()
		}
	}
}

// TestConvTrimmed checks which kernel taps trimmed drops: those that read
// only padding, as at R3D-18's layer3 and layer4 with 4-frame clips.
func TestConvTrimmed(t *testing.T) {
	for _, c := range []struct {
		x, w        []int
		stride, pad [3]int
		ok          bool
		k, p, first [3]int
	}{
		{x: []int{8, 256, 1, 14, 14}, w: []int{256, 256, 3, 3, 3}, stride: [3]int{1, 1, 1}, pad: [3]int{1, 1, 1}, ok: true, k: [3]int{1, 3, 3}, p: [3]int{0, 1, 1}, first: [3]int{1, 0, 0}},
		{x: []int{8, 128, 2, 28, 28}, w: []int{256, 128, 3, 3, 3}, stride: [3]int{2, 2, 2}, pad: [3]int{1, 1, 1}, ok: true, k: [3]int{2, 3, 3}, p: [3]int{0, 1, 1}, first: [3]int{1, 0, 0}},
		{x: []int{8, 256, 1, 14, 14}, w: []int{512, 256, 3, 3, 3}, stride: [3]int{2, 2, 2}, pad: [3]int{1, 1, 1}, ok: true, k: [3]int{1, 3, 3}, p: [3]int{0, 1, 1}, first: [3]int{1, 0, 0}},
		{x: []int{1, 2, 1, 1, 1}, w: []int{3, 2, 3, 3, 3}, stride: [3]int{1, 1, 1}, pad: [3]int{1, 1, 1}, ok: true, k: [3]int{1, 1, 1}, first: [3]int{1, 1, 1}},
		{x: []int{8, 64, 4, 56, 56}, w: []int{64, 64, 3, 3, 3}, stride: [3]int{1, 1, 1}, pad: [3]int{1, 1, 1}},
		{x: []int{8, 128, 2, 28, 28}, w: []int{128, 128, 3, 3, 3}, stride: [3]int{1, 1, 1}, pad: [3]int{1, 1, 1}},
		{x: []int{2, 3, 2, 4, 4}, w: []int{3, 3, 3, 3, 3}, stride: [3]int{1, 1, 1}, pad: [3]int{2, 1, 1}},
	} {
		g := testGeom(c.x, c.w, c.stride, c.pad)
		tg, first, ok := g.trimmed()
		if ok != c.ok {
			t.Errorf("x %v w %v: trimmed ok = %t, want %t", c.x, c.w, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if k, p := [3]int{tg.kt, tg.kh, tg.kw}, [3]int{tg.pt, tg.ph, tg.pw}; k != c.k || p != c.p || first != c.first {
			t.Errorf("x %v w %v: kernel %v padding %v first %v, want %v %v %v", c.x, c.w, k, p, first, c.k, c.p, c.first)
		}
		if tg.Y() != g.Y() {
			t.Errorf("x %v w %v: trimmed output %v, want %v", c.x, c.w, tg.Y(), g.Y())
		}
	}
}
