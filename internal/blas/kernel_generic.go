package blas

// genericKernel is the portable micro-kernel, 4 x 4, in plain Go.
var genericKernel = kernel{mr: 4, nr: 4, run: kernelGeneric4x4}

// kernelGeneric4x4 is the micro-kernel contract (see kernel) for mr = nr = 4.
func kernelGeneric4x4(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	a, b = a[:4*kc], b[:(kc-1)*ldb+4]
	_ = c[3*ldc+3]
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := 0; p < kc; p++ {
		ap, bp := a[4*p:4*p+4], b[ldb*p:ldb*p+4]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	store4(c[0:4], alpha, beta, c00, c01, c02, c03)
	store4(c[ldc:ldc+4], alpha, beta, c10, c11, c12, c13)
	store4(c[2*ldc:2*ldc+4], alpha, beta, c20, c21, c22, c23)
	store4(c[3*ldc:3*ldc+4], alpha, beta, c30, c31, c32, c33)
}

// store4 sets row = alpha*(v0..v3) + beta*row, not reading row when beta is 0.
func store4(row []float32, alpha, beta, v0, v1, v2, v3 float32) {
	row = row[:4]
	if beta == 0 {
		row[0], row[1], row[2], row[3] = alpha*v0, alpha*v1, alpha*v2, alpha*v3
		return
	}
	row[0] = alpha*v0 + beta*row[0]
	row[1] = alpha*v1 + beta*row[1]
	row[2] = alpha*v2 + beta*row[2]
	row[3] = alpha*v3 + beta*row[3]
}
