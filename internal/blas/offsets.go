package blas

import (
	"fmt"
	"runtime"
)

// Offsets is implemented by back ends that compute products whose B is
// gathered from rows at arbitrary offsets of one slice: implicit GEMM, a
// convolution's products reading its input in place instead of through a
// vol2col matrix.
type Offsets interface {
	// SgemmOffsets sets C = A*B, with A m x k row-major (leading
	// dimension lda), C m x n row-major (ldc), and B k x n, row p of B
	// being x[off[p] : off[p]+n]. Every off[p] must lie in [0, len(x)-n].
	SgemmOffsets(m, n, k int, a []float32, lda int, x []float32, off []int, c []float32, ldc int)
}

// OffsetsOf returns impl as an Offsets and true when it is vidssl's SGEMM
// (every kernel: the AVX-512 ones and the AVX2 6x16 read B in place
// through the offsets, the others pack B's panels from them), else nil and
// false.
func OffsetsOf(impl Impl) (Offsets, bool) {
	g, ok := impl.(*goImpl)
	return g, ok
}

// ReadsInPlace reports whether impl's products read their operands where
// they lie, without packing (but for the last partial panels): both A and B
// of a product with nothing transposed, and B of SgemmOffsets. That holds
// for vidssl's SGEMM with the AVX-512 kernels; the AVX2 and plain-Go ones
// pack A (and SgemmOffsets' B).
func ReadsInPlace(impl Impl) bool {
	g, ok := impl.(*goImpl)
	if !ok {
		return false
	}
	k := g.k.forRows(64)
	return k.runInd != nil && k.inPlaceA
}

// SgemmOffsets implements Offsets.
func (g *goImpl) SgemmOffsets(m, n, k int, a []float32, lda int, x []float32, off []int, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if m < 0 || n < 0 || k < 0 || lda < max(1, k) || ldc < max(1, n) || len(off) < k ||
		(k > 0 && len(a) < (m-1)*lda+k) || len(c) < (m-1)*ldc+n {
		panic(fmt.Sprintf("blas: SgemmOffsets(%d, %d, %d) with lda %d, ldc %d: short or bad arguments (len a %d, off %d, c %d)", m, n, k, lda, ldc, len(a), len(off), len(c)))
	}
	for _, o := range off[:k] {
		if o < 0 || o > len(x)-n {
			panic(fmt.Sprintf("blas: SgemmOffsets: offset %d of B's row outside [0, %d]", o, len(x)-n))
		}
	}
	if k == 0 {
		scaleC(m, n, 0, c, ldc)
		return
	}
	parts := 1
	if m*n*k >= goSplitMinWork && !g.noSplit {
		parts = min(runtime.GOMAXPROCS(0), max(m, n)/goSplitMinSize)
	}
	kern := g.k.forRows(m)
	if parts <= 1 {
		g.serialOffsets(kern, m, n, k, a, lda, x, off, c, ldc)
		return
	}
	// By columns (x's start moves with them) or, when C is taller than
	// wide (a convolution's small frames), by rows.
	splitC(false, false, m, n, lda, 1, ldc, parts, kern.mr, kern.nr, func(m, n, ao, bo, co int) {
		g.serialOffsets(kern, m, n, k, a[ao:], lda, x[bo:], off, c[co:], ldc)
	})
}

// offsetsKc is SgemmOffsets' block along k, half of kcBlock: each element
// of C is then summed in float32 chains of at most 128 products, added
// together. A convolution's k (Cin*kT*kH*kW) runs whole in one chain
// where vol2col's row-shift lowering summed a third of it at a time, and at
// kcBlock's 256 the rounding that made in the width-8 R3D's layer1 (216
// products) moved its training gradients by 0.5% (resnet3d's
// TestArchitecturesMatchTorchvision/r3d18 failed its 1e-3); at 128 they
// match as before.
var offsetsKc = kcBlock / 2

// serialOffsets is SgemmOffsets on the calling goroutine, the arguments
// checked. It is serial's loop nest without the blocks of rows (m is a
// convolution's output channels): for each block of columns and of k, the
// kernels with runInd read B where it lies but for a last partial panel of
// columns, packed; the others pack every panel of B from the offsets, and A.
// The AVX2 6x16 kernel has runInd (A in place, B through the offsets) but
// not inPlaceA: its plain products pack A, which measured faster there,
// while here reading both in place beat packing them (R3D-18's forward
// layers 1.15-1.45x, input gradients up to 1.33x, GFLOP per CPU second,
// BenchmarkConv3dForward and BenchmarkConv3dGrad, 2026-12-07).
func (g *goImpl) serialOffsets(kern *kernel, m, n, k int, a []float32, lda int, x []float32, off []int, c []float32, ldc int) {
	buf := packPool.Get().(*packBuffers)
	defer packPool.Put(buf)
	mr, nr := kern.mr, kern.nr
	ind := kern.runInd != nil && kern.runRows != nil
	kcMax, ncMax := min(k, offsetsKc), min(n, ncBlock)
	buf.a = grow(buf.a, (m+mr-1)/mr*mr*kcMax)
	buf.b = grow(buf.b, (ncMax+nr-1)/nr*nr*kcMax)
	buf.tile = grow(buf.tile, mr*nr)
	pa, pb, tile := buf.a, buf.b, buf.tile
	fullRows := m / mr * mr
	for jc := 0; jc < n; jc += ncBlock {
		nc := min(ncBlock, n-jc)
		for pc := 0; pc < k; pc += offsetsKc {
			kc := min(offsetsKc, k-pc)
			offs := off[pc : pc+kc]
			bt := float32(0)
			if pc > 0 {
				bt = 1
			}
			direct := 0
			if ind {
				direct = nc / nr * nr
				if fullRows < m {
					// The last partial panel of A's rows, with zeros
					// below, kc apart.
					packRows(a, lda, fullRows, m-fullRows, pc, kc, mr, pa)
				}
			} else {
				packA(false, a, lda, 0, pc, m, kc, mr, pa)
			}
			packOffsets(x, offs, jc+direct, nc-direct, kc, nr, pb)
			for ir := 0; ir < m; ir += mr {
				rows := min(mr, m-ir)
				ar, alda := a[ir*lda+pc:], lda
				if ind && ir >= fullRows {
					ar, alda = pa, kc
				}
				for jr := 0; jr < nc; jr += nr {
					cols := min(nr, nc-jr)
					ci := ir*ldc + jc + jr
					cc, cld, cbeta := tile, nr, float32(0)
					if rows == mr && cols == nr {
						cc, cld, cbeta = c[ci:], ldc, bt
					}
					switch {
					case jr < direct:
						kern.runInd(kc, ar, alda, x[jc+jr:], offs, cc, cld, 1, cbeta)
					case ind:
						kern.runRows(kc, ar, alda, pb[(jr-direct)*kc:], nr, cc, cld, 1, cbeta)
					default:
						kern.run(kc, pa[ir*kc:], pb[jr*kc:], nr, cc, cld, 1, cbeta)
					}
					if rows == mr && cols == nr {
						continue
					}
					for i := 0; i < rows; i++ {
						cr := c[ci+i*ldc : ci+i*ldc+cols]
						tr := tile[i*nr : i*nr+cols]
						if bt == 0 {
							copy(cr, tr)
							continue
						}
						for j, v := range tr {
							cr[j] += v
						}
					}
				}
			}
		}
	}
}

// packRows copies rows [i0, i0+rows) of A, columns [p0, p0+kc), into dst as
// mr rows kc apart, the rows past rows zero: a panel for runRows.
func packRows(a []float32, lda, i0, rows, p0, kc, mr int, dst []float32) {
	for i := 0; i < mr; i++ {
		d := dst[i*kc : (i+1)*kc]
		if i < rows {
			copy(d, a[(i0+i)*lda+p0:][:kc])
		} else {
			clear(d)
		}
	}
}

// packOffsets copies the columns [j0, j0+nc) of the kc rows of B at x[off[p]:]
// into dst as micro-panels of nr columns (as packB), zero past nc.
func packOffsets(x []float32, off []int, j0, nc, kc, nr int, dst []float32) {
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		d := dst[jr*kc : (jr+nr)*kc]
		for p, o := range off[:kc] {
			dp := d[p*nr : (p+1)*nr]
			copy(dp, x[o+j0+jr:][:cols])
			clear(dp[cols:])
		}
	}
}
