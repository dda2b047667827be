package blas

import (
	"runtime"
	"sync"
)

// goImpl is vidssl's own SGEMM, written the BLIS way: op(A) and op(B) are
// copied (packed) block by block into contiguous micro-panels that a
// register-blocked micro-kernel reads in order. For C = alpha*op(A)*op(B) +
// beta*C with C m x n, the loops are, from the outside in:
//
//	ic: rows of C in blocks of mcBlock       (the packed A block stays in L2/L3)
//	pc: the k dimension in blocks of kcBlock  (pack A: mc x kc, in micro-panels of mr rows)
//	jc: columns of C in blocks of ncBlock    (pack B: kc x nc, in micro-panels of nr columns, in L2)
//	ir: micro-panels of A                     (one, mr x kc, stays in L1)
//	jr: micro-panels of B                     (streamed from L2)
//	    the micro-kernel: one mr x nr tile of C
//
// The micro-kernel keeps its tile in registers, so the A micro-panel
// (reused across jr) is the one held in L1; with nr = 32 a B micro-panel
// of kcBlock steps would fill L1 alone. Partial tiles at the edges are
// computed into a scratch tile (packing pads the panels with zeros) and
// copied out. Large products are split across goroutines by columns (or by
// rows when C is taller than wide), each with its own packing buffers.
//
// Packing is skipped where it would cost as much as the arithmetic, as in
// a convolution's products, whose one small dimension (the channels) gives
// each value of the large matrix few multiply-adds: a non-transposed B is
// read in place (its rows, ldb apart, are the micro-panel's rows), and so
// is a non-transposed A where the kernel has a variant for that (runRows,
// broadcasting from mr rows lda apart). A product with a transposed B and
// few rows of C (a weight gradient) is computed transposed
// (serialTransposed), so that B is read in place as well. Only the last,
// partial panels are packed.
type goImpl struct {
	name string
	k    kernel
	// noSplit keeps every product on the calling goroutine (see Serial).
	noSplit bool
}

// kernel is a micro-kernel: it computes the mr x nr tile
// c = alpha*a*b + beta*c from kc steps of a packed A micro-panel (mr values
// a step) and kc rows of nr values of B, ldb apart (a packed B micro-panel
// with ldb = nr, or B itself), c row-major with leading dimension ldc. With
// beta == 0, c is not read.
type kernel struct {
	mr, nr int
	run    func(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32)
	// runRows, where not nil, is run with A read in place: mr rows of a,
	// lda apart, kc consecutive values each (see serialTransposed).
	runRows func(kc int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, alpha, beta float32)
	// runInd, where not nil, is runRows with row p of B at b[off[p]:]
	// rather than p*ldb: implicit GEMM (SgemmOffsets), B's rows read where
	// they lie in a convolution's input.
	runInd func(kc int, a []float32, lda int, b []float32, off []int, c []float32, ldc int, alpha, beta float32)
	// inPlaceA says that serial reads a non-transposed A in place with
	// runRows rather than packing it: measured faster for the AVX-512
	// kernels and the AVX2 4x24 one (at m = 8), slower for the AVX2 6x16.
	inPlaceA bool
	// alt, where not nil, is a kernel with fewer rows (the same nr on
	// AVX-512, a wider one on AVX2), used for products whose row count it
	// pads less (m = 64 with mr = 12 and 8; m = 8 or 16 with mr = 6 and 4).
	alt *kernel
	// altMargin is how much less padding, in percent, alt must give to be
	// chosen: 0 on AVX-512; 25 on AVX2, whose 4x24 kernel reads B half as
	// often again as the 6x16 one and was slower at m = 16 and 64 (12.5%
	// and 3% padding) but faster at m = 8 (50%).
	altMargin int
	// dot, where not nil, computes the dotRows x dotCols dot products of
	// dotRows rows of a (lda apart) with dotCols rows of b (ldb apart), kc
	// values each, into t (t[i*dotCols+j]): A*B^T read in place along k,
	// for products with a transposed B and at most dotRows rows of C
	// (serialDot), where the tiles of the other paths would be mostly
	// padding.
	dot func(kc int, a []float32, lda int, b []float32, ldb int, t *[dotRows * dotCols]float32)
	// narrow, where not nil, is a kernel with the same mr, fewer columns
	// and a runRows, used by serialTransposed where it pads the rows of C
	// less (m = 8 or 16 in a width-8 network).
	narrow *kernel
}

// forRows returns k, or k.alt where that pads m rows to fewer by more than
// k.altMargin percent.
func (k *kernel) forRows(m int) *kernel {
	if k.alt != nil && padded(m, k.alt.mr)*(100+k.altMargin) < padded(m, k.mr)*100 {
		return k.alt
	}
	return k
}

// padded returns m rounded up to a multiple of mr.
func padded(m, mr int) int { return (m + mr - 1) / mr * mr }

// Block sizes, in values. kcBlock*mr*4 bytes of A (8 to 14 KiB) stay in a
// 32 KiB L1; kcBlock*ncBlock*4 bytes of B (512 KiB) in a 1 MiB L2; the A
// block, mcBlock*kcBlock*4 bytes (1 MiB), in L2 and L3.
const (
	kcBlock = 256
	ncBlock = 512
	mcBlock = 1024
)

// goSplitMinWork is the least m*n*k worth splitting across goroutines, and
// goSplitMinSize the fewest rows or columns each part gets.
const (
	goSplitMinWork = 1 << 18
	goSplitMinSize = 64
)

func (g *goImpl) Name() string { return g.name }

// packBuffers holds one goroutine's packed panels, its edge tile and, for
// serialTransposed, the transposed product.
type packBuffers struct {
	a, b, tile, t []float32
}

// transposedMaxM is the most rows of C for which a product with a
// transposed B is computed transposed (serialTransposed), and
// transposedMinRatio the least ratio k/m: the transposed product saves
// packing n*k values of B but adds n*m strided writes.
const (
	transposedMaxM     = ncBlock
	transposedMinRatio = 2
)

var packPool = sync.Pool{New: func() any { return new(packBuffers) }}

func (g *goImpl) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	parts := 1
	if m*n*k >= goSplitMinWork && !g.noSplit {
		parts = min(runtime.GOMAXPROCS(0), max(m, n)/goSplitMinSize)
	}
	if parts <= 1 {
		g.serial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Split the larger of C's dimensions into parts of whole tiles.
	kern := g.k.forRows(m)
	splitC(transA, transB, m, n, lda, ldb, ldc, parts, kern.mr, kern.nr, func(m, n, ao, bo, co int) {
		g.serial(transA, transB, m, n, k, alpha, a[ao:], lda, b[bo:], ldb, beta, c[co:], ldc)
	})
}

// scaleC sets C = beta*C (C = 0 when beta is 0, whatever C held).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// serial is Sgemm on the calling goroutine; m, n, k > 0 and the slices are
// long enough (checkGemm).
func (g *goImpl) serial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	buf := packPool.Get().(*packBuffers)
	defer packPool.Put(buf)
	if transB && !transA && g.k.dot != nil && m <= dotRows {
		g.serialDot(buf, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, 1)
		return
	}
	if transB && !transA && g.k.dot != nil && n <= dotRows && k >= transposedMinRatio*m {
		// C^T = B*A^T has at most dotRows rows: the same dot products
		// with A and B swapped, written down C's columns (the weight
		// gradient of a 1x1 convolution with few input channels, where the
		// paths below would pad B's panels to nr columns).
		g.serialDot(buf, n, m, k, alpha, b, ldb, a, lda, beta, c, 1, ldc)
		return
	}
	if transB && !transA && g.k.runRows != nil && m <= transposedMaxM && k >= transposedMinRatio*m && n >= g.k.mr {
		// The transposed product's tiles span nr rows of C.
		kern := &g.k
		if g.k.narrow != nil && padded(m, g.k.narrow.nr) < padded(m, g.k.nr) {
			kern = g.k.narrow
		}
		g.serialTransposed(kern, buf, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	kern := g.k.forRows(m)
	mr, nr := kern.mr, kern.nr
	mcMax := min(m, mcBlock)
	kcMax := min(k, kcBlock)
	ncMax := min(n, ncBlock)
	buf.a = grow(buf.a, (mcMax+mr-1)/mr*mr*kcMax)
	buf.b = grow(buf.b, (ncMax+nr-1)/nr*nr*kcMax)
	buf.tile = grow(buf.tile, mr*nr)
	pa, pb, tile := buf.a, buf.b, buf.tile
	for ic := 0; ic < m; ic += mcBlock {
		mc := min(mcBlock, m-ic)
		for pc := 0; pc < k; pc += kcBlock {
			kc := min(kcBlock, k-pc)
			bt := beta
			if pc > 0 {
				bt = 1
			}
			// A non-transposed A is read in place too where the kernel
			// has a variant for that (runRows), but for a last partial
			// panel.
			directA := 0
			if !transA && kern.inPlaceA {
				directA = mc / mr * mr
			}
			packA(transA, a, lda, ic+directA, pc, mc-directA, kc, mr, pa)
			for jc := 0; jc < n; jc += ncBlock {
				nc := min(ncBlock, n-jc)
				// A non-transposed B is read in place (its rows are the
				// micro-panels' rows, ldb apart) but for a last partial
				// panel: packing it would cost as much as the product
				// when m is small.
				direct := 0
				if !transB {
					direct = nc / nr * nr
				}
				packB(transB, b, ldb, pc, jc+direct, kc, nc-direct, nr, pb)
				for ir := 0; ir < mc; ir += mr {
					var ap []float32
					if ir >= directA {
						ap = pa[(ir-directA)*kc:]
					}
					rows := min(mr, mc-ir)
					for jr := 0; jr < nc; jr += nr {
						var bp []float32
						bld := nr
						if jr < direct {
							bp, bld = b[pc*ldb+jc+jr:], ldb
						} else {
							bp = pb[(jr-direct)*kc:]
						}
						cols := min(nr, nc-jr)
						ci := (ic+ir)*ldc + jc + jr
						cc, cld, cbeta := tile, nr, float32(0)
						if rows == mr && cols == nr {
							cc, cld, cbeta = c[ci:], ldc, bt
						}
						if ir < directA {
							kern.runRows(kc, a[(ic+ir)*lda+pc:], lda, bp, bld, cc, cld, alpha, cbeta)
						} else {
							kern.run(kc, ap, bp, bld, cc, cld, alpha, cbeta)
						}
						if rows == mr && cols == nr {
							continue
						}
						for i := 0; i < rows; i++ {
							cr := c[ci+i*ldc : ci+i*ldc+cols]
							tr := tile[i*nr : i*nr+cols]
							switch bt {
							case 0:
								copy(cr, tr)
							case 1:
								for j, v := range tr {
									cr[j] += v
								}
							default:
								for j, v := range tr {
									cr[j] = v + bt*cr[j]
								}
							}
						}
					}
				}
			}
		}
	}
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// packA copies op(A)[i0:i0+mc, p0:p0+kc] into dst as micro-panels of mr
// rows: panel q holds, for each step p, the mr values of column p in rows
// q*mr..q*mr+mr-1, zero past mc.
func packA(trans bool, a []float32, lda, i0, p0, mc, kc, mr int, dst []float32) {
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		d := dst[ir*kc : (ir+mr)*kc]
		if trans {
			// op(A)[i, p] = A[p, i]: the mr values of a step are contiguous.
			for p := 0; p < kc; p++ {
				src := a[(p0+p)*lda+i0+ir:][:rows]
				dp := d[p*mr : (p+1)*mr]
				copy(dp, src)
				clear(dp[rows:])
			}
			continue
		}
		for i := 0; i < rows; i++ {
			src := a[(i0+ir+i)*lda+p0:][:kc]
			for p, v := range src {
				d[p*mr+i] = v
			}
		}
		for i := rows; i < mr; i++ {
			for p := 0; p < kc; p++ {
				d[p*mr+i] = 0
			}
		}
	}
}

// packB copies op(B)[p0:p0+kc, j0:j0+nc] into dst as micro-panels of nr
// columns: panel q holds, for each step p, the nr values of row p in columns
// q*nr..q*nr+nr-1, zero past nc.
func packB(trans bool, b []float32, ldb, p0, j0, kc, nc, nr int, dst []float32) {
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		d := dst[jr*kc : (jr+nr)*kc]
		if !trans {
			for p := 0; p < kc; p++ {
				dp := d[p*nr : (p+1)*nr]
				copy(dp, b[(p0+p)*ldb+j0+jr:][:cols])
				clear(dp[cols:])
			}
			continue
		}
		// op(B)[p, j] = B[j, p]: each column of the panel is a row of B.
		for j := 0; j < cols; j++ {
			src := b[(j0+jr+j)*ldb+p0:][:kc]
			for p, v := range src {
				d[p*nr+j] = v
			}
		}
		for j := cols; j < nr; j++ {
			for p := 0; p < kc; p++ {
				d[p*nr+j] = 0
			}
		}
	}
}

// dotRows and dotCols are the shape of kernel.dot's tile of C.
const (
	dotRows = 8
	dotCols = 3
)

// serialDot is serial for C = alpha*A*B^T + beta*C with at most dotRows rows
// of C (the weight gradient of a convolution with few output channels): each
// element of C is a dot product of a row of A and a row of B, both
// contiguous, which kernel.dot computes dotCols at a time with nothing
// packed. A with fewer than dotRows rows is copied into a buffer of
// dotRows rows (the rest zero). Element (i, j) of C is c[i*ldc+j*cstep]:
// cstep is 1 for C itself, and C's leading dimension (with ldc 1) for the
// transposed product C^T = B*A^T.
func (g *goImpl) serialDot(buf *packBuffers, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc, cstep int) {
	if m < dotRows {
		buf.a = grow(buf.a, dotRows*k)
		for i := 0; i < m; i++ {
			copy(buf.a[i*k:(i+1)*k], a[i*lda:i*lda+k])
		}
		clear(buf.a[m*k:])
		a, lda = buf.a, k
	}
	var t [dotRows * dotCols]float32
	for j := 0; j < n; {
		cols, step := dotCols, ldb
		if n-j < dotCols {
			// The last one or two rows of B, one at a time (the kernel
			// reads the same row dotCols times).
			cols, step = 1, 0
		}
		g.k.dot(k, a, lda, b[j*ldb:], step, &t)
		for i := 0; i < m; i++ {
			tr := t[i*dotCols : i*dotCols+cols]
			if cstep != 1 {
				for q, v := range tr {
					ci := i*ldc + (j+q)*cstep
					if beta == 0 {
						c[ci] = alpha * v
					} else {
						c[ci] = alpha*v + beta*c[ci]
					}
				}
				continue
			}
			row := c[i*ldc+j : i*ldc+j+cols]
			if beta == 0 {
				for q, v := range tr {
					row[q] = alpha * v
				}
				continue
			}
			for q, v := range tr {
				row[q] = alpha*v + beta*row[q]
			}
		}
		j += cols
	}
}

// serialTransposed is serial for C = alpha*A*B^T + beta*C with C m x n, m
// small: the weight gradient of a convolution, where B (n x k) is large and
// packing its transpose would cost more than the product. It computes
// T = B*A^T (n x m) instead, reading B's rows in place (runRows) and packing
// only A, and then adds the transpose of T into C.
func (g *goImpl) serialTransposed(kern *kernel, buf *packBuffers, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := kern.mr, kern.nr
	kcMax := min(k, kcBlock)
	buf.a = grow(buf.a, mr*kcMax)
	buf.b = grow(buf.b, (m+nr-1)/nr*nr*kcMax)
	buf.tile = grow(buf.tile, mr*nr)
	buf.t = grow(buf.t, n*m)
	pa, pb, tile, t := buf.a, buf.b, buf.tile, buf.t
	for pc := 0; pc < k; pc += kcBlock {
		kc := min(kcBlock, k-pc)
		bt := float32(0)
		if pc > 0 {
			bt = 1
		}
		// The k x m matrix A^T, packed in panels of nr columns.
		packB(true, a, lda, pc, 0, kc, m, nr, pb)
		for ir := 0; ir < n; ir += mr {
			rows := min(mr, n-ir)
			if rows < mr {
				packA(false, b, ldb, ir, pc, rows, kc, mr, pa)
			}
			for jr := 0; jr < m; jr += nr {
				bp := pb[jr*kc:]
				cols := min(nr, m-jr)
				ti := ir*m + jr
				switch {
				case rows == mr && cols == nr:
					kern.runRows(kc, b[ir*ldb+pc:], ldb, bp, nr, t[ti:], m, 1, bt)
					continue
				case rows == mr:
					kern.runRows(kc, b[ir*ldb+pc:], ldb, bp, nr, tile, nr, 1, 0)
				default:
					kern.run(kc, pa, bp, nr, tile, nr, 1, 0)
				}
				for i := 0; i < rows; i++ {
					tr := t[ti+i*m : ti+i*m+cols]
					src := tile[i*nr : i*nr+cols]
					if pc == 0 {
						copy(tr, src)
						continue
					}
					for j, v := range src {
						tr[j] += v
					}
				}
			}
		}
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			for j := range row {
				row[j] = alpha * t[j*m+i]
			}
			continue
		}
		for j := range row {
			row[j] = alpha*t[j*m+i] + beta*row[j]
		}
	}
}
