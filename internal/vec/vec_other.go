//go:build !amd64

package vec

// levelGo is the only level off amd64: the plain Go loops.
const levelGo = 0

// level is always levelGo here; tests set it on amd64.
var level = levelGo

// maxLevel is the best level the CPU supports, for tests.
func maxLevel() int { return levelGo }

func moments(x, y, m []float32, shift float32) (sd, sdd, sdy, sdyd float32) {
	return momentsGo(x, y, m, shift)
}

func affine(dst, x []float32, a, b float32, relu bool) { affineGo(dst, x, a, b, relu) }

func normGrad(dst, x, y, m []float32, a, b, c, mean float32) {
	normGradGo(dst, x, y, m, a, b, c, mean)
}

func mask(dst, y, m []float32) { maskGo(dst, y, m) }

func deinterleave2(even, odd, src []float32) { deinterleave2Go(even, odd, src) }

func interleave2(dst, even, odd []float32) { interleave2Go(dst, even, odd) }

func adam(p, g, m, v []float32, c AdamCoeffs) { adamGo(p, g, m, v, c) }
