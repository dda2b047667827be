package video

// The inverse DCT below is image/jpeg's (Go 1.26, src/image/jpeg/dct.go,
// Copyright 2011 The Go Authors, BSD-style licence), so that the baseline
// decoder gives exactly its samples, with two shortcuts that give the same
// values: a row with no AC coefficient is its DC term, shifted, and when
// only the first row is non-zero every column is constant.

// Fixed-point constants of image/jpeg's IDCT: 60-bit values, rounded to
// fewer bits by idctC.
const (
	idctCos1        = 1130768441178740757 // cos 1*pi/16
	idctSin1        = 224923827593068887  // sin 1*pi/16
	idctCos3        = 958619196450722178  // cos 3*pi/16
	idctSin3        = 640528868967736374  // sin 3*pi/16
	idctSqrt2inv    = 815238614083298888  // 1/sqrt 2
	idctSqrt2invCos = 311978311033955632  // (1/sqrt 2)*cos 6*pi/16
	idctSqrt2invSin = 753182269664427492  // (1/sqrt 2)*sin 6*pi/16
)

// idctC rounds the 60-bit constant x to bits bits (constant-folded).
func idctC(x uint64, bits int) int32 {
	return int32((x + (1 << (59 - bits))) >> (60 - bits))
}

// idctBox is image/jpeg's dctBox: a rotation by kcos, ksin with three
// multiplications.
func idctBox(x0, x1, kcos, ksin int32) (y0, y1 int32) {
	ksum := kcos * (x0 + x1)
	y0 = ksum + (ksin-kcos)*x1
	y1 = ksum - (kcos+ksin)*x0
	return y0, y1
}

// jpegIDCT is image/jpeg's idct of b in place (natural order, dequantized
// coefficients in; samples before the level shift out). Bit r of rows is
// set when row r may hold a non-zero coefficient, of acRows when it may
// hold one in a column other than 0; rows without are not transformed.
func jpegIDCT(b *[64]int32, rows, acRows uint8) {
	for i := range 8 {
		if rows&(1<<i) == 0 {
			continue // all zero: stays zero
		}
		x := b[8*i : 8*i+8 : 8*i+8]
		if acRows&(1<<i) == 0 {
			v := x[0] << 17
			x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7] = v, v, v, v, v, v, v, v
			continue
		}
		idctRow(x)
	}
	if rows&^1 == 0 {
		// Only the first row: each column's outputs are its first value,
		// rounded and shifted as idctCol does.
		for i := range 8 {
			v := ((b[i] + 1<<19) >> 2) >> 18
			b[i], b[8+i], b[16+i], b[24+i], b[32+i], b[40+i], b[48+i], b[56+i] = v, v, v, v, v, v, v, v
		}
		return
	}
	for i := range 8 {
		idctCol(b, i)
	}
}

// idctRow is image/jpeg's idctRows for one row.
func idctRow(x []int32) {
	x0 := x[0]
	x7 := x[1]
	x2 := x[2]
	x5 := x[3]
	x1 := x[4]
	x6 := x[5]
	x3 := x[6]
	x4 := x[7]

	x0 <<= 17
	x1 <<= 17
	x0, x1 = x0+x1, x0-x1
	x2, x3 = idctBox(x2, x3, idctC(idctSqrt2invCos, 18), -idctC(idctSqrt2invSin, 18))
	x1, x2 = x1+x2, x1-x2
	x0, x3 = x0+x3, x0-x3

	x4 <<= 7
	x7 <<= 7
	x7, x4 = x7+x4, x7-x4
	x6 = x6 * idctC(idctSqrt2inv, 8)
	x5 = x5 * idctC(idctSqrt2inv, 8)
	x7, x5 = x7+x5, x7-x5
	x4, x6 = x4+x6, x4-x6
	x4, x7 = idctBox(x4>>2, x7>>2, idctC(idctCos3, 12), -idctC(idctSin3, 12))
	x5, x6 = idctBox(x5>>2, x6>>2, idctC(idctCos1, 12), -idctC(idctSin1, 12))

	x0, x7 = x0+x7, x0-x7
	x1, x6 = x1+x6, x1-x6
	x2, x5 = x2+x5, x2-x5
	x3, x4 = x3+x4, x3-x4

	x[0] = x0
	x[1] = x1
	x[2] = x2
	x[3] = x3
	x[4] = x4
	x[5] = x5
	x[6] = x6
	x[7] = x7
}

// idctCol is image/jpeg's idctCols for column i.
func idctCol(b *[64]int32, i int) {
	x0 := b[0*8+i]
	x7 := b[1*8+i]
	x2 := b[2*8+i]
	x5 := b[3*8+i]
	x1 := b[4*8+i]
	x6 := b[5*8+i]
	x3 := b[6*8+i]
	x4 := b[7*8+i]

	x0 += 1 << 19
	x0, x1 = (x0+x1)>>2, (x0-x1)>>2
	x2, x3 = idctBox(x2>>13, x3>>13, idctC(idctSqrt2invCos, 12), -idctC(idctSqrt2invSin, 12))
	x1, x2 = x1+x2, x1-x2
	x0, x3 = x0+x3, x0-x3

	x7, x4 = x7+x4, x7-x4
	x5 = (x5 >> 13) * idctC(idctSqrt2inv, 14)
	x6 = (x6 >> 13) * idctC(idctSqrt2inv, 14)
	x7, x5 = x7+x5, x7-x5
	x4, x6 = x4+x6, x4-x6
	x4, x7 = idctBox(x4>>14, x7>>14, idctC(idctCos3, 12), -idctC(idctSin3, 12))
	x5, x6 = idctBox(x5>>14, x6>>14, idctC(idctCos1, 12), -idctC(idctSin1, 12))

	x0, x7 = x0+x7, x0-x7
	x1, x6 = x1+x6, x1-x6
	x2, x5 = x2+x5, x2-x5
	x3, x4 = x3+x4, x3-x4

	b[0*8+i] = x0 >> 18
	b[1*8+i] = x1 >> 18
	b[2*8+i] = x2 >> 18
	b[3*8+i] = x3 >> 18
	b[4*8+i] = x4 >> 18
	b[5*8+i] = x5 >> 18
	b[6*8+i] = x6 >> 18
	b[7*8+i] = x7 >> 18
}
