package probe

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Linear configures the linear probe: logistic regression on features
// standardised with the training rows' mean and standard deviation,
// minimising
//
//	0.5 |w|^2 + C sum_i s_i [log(1 + exp(z_i)) - y_i z_i],  z = x w + b,
//
// with s_i = 1, or with Balanced the class weights n / (2 n_class) (as
// scikit-learn's class_weight="balanced"). The bias is not penalised.
// The zero value is C = 1, unbalanced, scikit-learn's default.
type Linear struct {
	// C is the inverse regularisation strength (scikit-learn's C); 0 means 1.
	C float64
	// Balanced weighs each class by n / (2 n_class), so that a rare
	// positive class counts as much as the other.
	Balanced bool
	// MaxIter bounds Newton's iterations; 0 means 100.
	MaxIter int
}

// Logistic is a fitted linear probe.
type Logistic struct {
	// Mean and Scale standardise a feature row: (x - Mean) / Scale.
	Mean, Scale []float64
	// Weights (one per feature, on standardised features) and Bias.
	Weights []float64
	Bias    float64
	// Iterations is the number of Newton steps taken.
	Iterations int
}

// Fit fits the probe on n rows of d features (x, row-major) with labels y
// (0 or 1, both present).
func (l Linear) Fit(x []float32, n, d int, y []int) (*Logistic, error) {
	if err := checkRows("fit", x, n, d); err != nil {
		return nil, err
	}
	if len(y) != n {
		return nil, fmt.Errorf("probe: fit: %d labels for %d rows", len(y), n)
	}
	c := l.C
	if c == 0 {
		c = 1
	}
	if !(c > 0) || math.IsInf(c, 0) {
		return nil, fmt.Errorf("probe: fit: C = %v, want > 0", l.C)
	}
	iters := l.MaxIter
	if iters == 0 {
		iters = 100
	}
	if iters < 0 {
		return nil, fmt.Errorf("probe: fit: MaxIter = %d, want >= 0", l.MaxIter)
	}
	var count [2]int
	for i, v := range y {
		if v != 0 && v != 1 {
			return nil, fmt.Errorf("probe: fit: label %d of row %d, want 0 or 1", v, i)
		}
		count[v]++
	}
	if count[0] == 0 || count[1] == 0 {
		return nil, fmt.Errorf("probe: fit: only one class among %d rows (%d negative, %d positive)", n, count[0], count[1])
	}
	weight := [2]float64{1, 1}
	if l.Balanced {
		weight = [2]float64{float64(n) / (2 * float64(count[0])), float64(n) / (2 * float64(count[1]))}
	}

	m := &Logistic{Mean: make([]float64, d), Scale: make([]float64, d), Weights: make([]float64, d)}
	standardiser(x, n, d, m.Mean, m.Scale)
	// z holds the standardised rows with a trailing 1 for the bias.
	p := d + 1
	z := make([]float64, n*p)
	for i := range n {
		row := z[i*p : (i+1)*p]
		for j := range d {
			row[j] = (float64(x[i*d+j]) - m.Mean[j]) / m.Scale[j]
		}
		row[d] = 1
	}
	s := make([]float64, n)
	for i, v := range y {
		s[i] = c * weight[v]
	}
	theta := make([]float64, p)
	loss := func(th []float64) float64 {
		var f float64
		for j := range d {
			f += 0.5 * th[j] * th[j]
		}
		for i := range n {
			zi := dot(z[i*p:(i+1)*p], th)
			f += s[i] * (softplus(zi) - float64(y[i])*zi)
		}
		return f
	}
	grad := make([]float64, p)
	hess := mat.NewSymDense(p, nil)
	step := make([]float64, p)
	trial := make([]float64, p)
	f := loss(theta)
	for m.Iterations < iters {
		for j := range grad {
			grad[j] = 0
		}
		for j := range d {
			grad[j] = theta[j]
		}
		h := hess.RawSymmetric().Data
		for j := range h {
			h[j] = 0
		}
		for j := range d {
			h[j*p+j] = 1
		}
		h[d*p+d] = 1e-12 // keeps the bias's curvature positive when every point is fitted
		for i := range n {
			row := z[i*p : (i+1)*p]
			pi := sigmoid(dot(row, theta))
			r := s[i] * (pi - float64(y[i]))
			w := s[i] * pi * (1 - pi)
			for a := range p {
				grad[a] += r * row[a]
				if w == 0 {
					continue
				}
				wa := w * row[a]
				for b := a; b < p; b++ {
					h[a*p+b] += wa * row[b]
				}
			}
		}
		var chol mat.Cholesky
		if !chol.Factorize(hess) {
			return nil, fmt.Errorf("probe: fit: Newton step %d: the Hessian is not positive definite", m.Iterations+1)
		}
		sv := mat.NewVecDense(p, step)
		if err := chol.SolveVecTo(sv, mat.NewVecDense(p, grad)); err != nil {
			return nil, fmt.Errorf("probe: fit: Newton step %d: %w", m.Iterations+1, err)
		}
		m.Iterations++
		// Backtracking line search on the objective.
		t, ft := 1.0, math.Inf(1)
		for range 40 {
			for j := range theta {
				trial[j] = theta[j] - t*step[j]
			}
			if ft = loss(trial); ft <= f {
				break
			}
			t /= 2
		}
		if !(ft <= f) {
			break // no decrease: at the optimum to float64 rounding
		}
		copy(theta, trial)
		converged := f-ft <= 1e-14*math.Max(1, math.Abs(f))
		f = ft
		if converged || maxAbs(step)*t < 1e-12 {
			break
		}
	}
	for j := range theta {
		if math.IsNaN(theta[j]) || math.IsInf(theta[j], 0) {
			return nil, fmt.Errorf("probe: fit: the weights diverged")
		}
	}
	copy(m.Weights, theta[:d])
	m.Bias = theta[d]
	return m, nil
}

// Scores returns the probability of the positive class for each of the n
// rows of x (row-major, the fitted number of features wide).
func (m *Logistic) Scores(x []float32, n int) ([]float64, error) {
	if m == nil {
		return nil, fmt.Errorf("probe: scores: no model")
	}
	d := len(m.Weights)
	if err := checkRows("scores", x, n, d); err != nil {
		return nil, err
	}
	out := make([]float64, n)
	for i := range n {
		zi := m.Bias
		for j := range d {
			zi += m.Weights[j] * (float64(x[i*d+j]) - m.Mean[j]) / m.Scale[j]
		}
		out[i] = sigmoid(zi)
	}
	return out, nil
}

// standardiser fills mean and scale with the columns' mean and population
// standard deviation (1 where a column is constant), as StandardScaler does.
func standardiser(x []float32, n, d int, mean, scale []float64) {
	for i := range n {
		for j := range d {
			mean[j] += float64(x[i*d+j])
		}
	}
	for j := range d {
		mean[j] /= float64(n)
	}
	for i := range n {
		for j := range d {
			e := float64(x[i*d+j]) - mean[j]
			scale[j] += e * e
		}
	}
	for j := range d {
		scale[j] = math.Sqrt(scale[j] / float64(n))
		if scale[j] < 1e-12*math.Max(1, math.Abs(mean[j])) {
			scale[j] = 1
		}
	}
}

// checkRows checks that x holds n finite rows of d features.
func checkRows(op string, x []float32, n, d int) error {
	switch {
	case n < 1:
		return fmt.Errorf("probe: %s: %d rows, want at least 1", op, n)
	case d < 1:
		return fmt.Errorf("probe: %s: %d features, want at least 1", op, d)
	case len(x) != n*d:
		return fmt.Errorf("probe: %s: %d values for %d rows of %d features", op, len(x), n, d)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("probe: %s: row %d feature %d is %v", op, i/d, i%d, v)
		}
	}
	return nil
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func maxAbs(a []float64) float64 {
	var m float64
	for _, v := range a {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// softplus is log(1 + exp(z)) without overflow.
func softplus(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}
