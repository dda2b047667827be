package probe

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// KNN configures the weighted k-nearest-neighbour probe of solo-learn: rows
// are L2-normalised, the K training rows most cosine-similar to a held-out
// row vote with weights exp(similarity / Temperature), and the score is the
// weighted fraction of positive votes. The zero value is K = 20 and
// Temperature = 0.07, solo-learn's defaults.
type KNN struct {
	// K is the number of neighbours; 0 means 20. With fewer training rows,
	// all of them vote.
	K int
	// Temperature sharpens the vote weights; 0 means 0.07.
	Temperature float64
}

// Scores returns, for each of the nTest rows of test, the weighted fraction
// of its nearest training rows (of the nTrain rows of train, labels y, 0
// or 1) that are positive. Both matrices are row-major with d features. A
// row of zeros has similarity 0 to every row.
func (k KNN) Scores(train []float32, nTrain int, y []int, test []float32, nTest, d int) ([]float64, error) {
	if err := checkRows("knn: train", train, nTrain, d); err != nil {
		return nil, err
	}
	if err := checkRows("knn: test", test, nTest, d); err != nil {
		return nil, err
	}
	if len(y) != nTrain {
		return nil, fmt.Errorf("probe: knn: %d labels for %d training rows", len(y), nTrain)
	}
	for i, v := range y {
		if v != 0 && v != 1 {
			return nil, fmt.Errorf("probe: knn: label %d of row %d, want 0 or 1", v, i)
		}
	}
	kk, temp := k.K, k.Temperature
	if kk == 0 {
		kk = 20
	}
	if temp == 0 {
		temp = 0.07
	}
	if kk < 0 || !(temp > 0) || math.IsInf(temp, 0) {
		return nil, fmt.Errorf("probe: knn: K = %d, Temperature = %v; want K >= 0 and Temperature > 0", k.K, k.Temperature)
	}
	kk = min(kk, nTrain)
	a, b := normalised(train, nTrain, d), normalised(test, nTest, d)
	type neighbour struct {
		sim   float64
		index int
	}
	nb := make([]neighbour, nTrain)
	out := make([]float64, nTest)
	for i := range nTest {
		q := b[i*d : (i+1)*d]
		for j := range nTrain {
			nb[j] = neighbour{dot(q, a[j*d:(j+1)*d]), j}
		}
		slices.SortFunc(nb, func(u, v neighbour) int {
			if c := cmp.Compare(v.sim, u.sim); c != 0 {
				return c
			}
			return cmp.Compare(u.index, v.index)
		})
		var pos, all float64
		for _, n := range nb[:kk] {
			w := math.Exp((n.sim - nb[0].sim) / temp) // shifted: the ratio is unchanged
			all += w
			if y[n.index] == 1 {
				pos += w
			}
		}
		out[i] = pos / all
	}
	return out, nil
}

// normalised returns the rows of x scaled to unit L2 norm (zero rows stay
// zero), in float64.
func normalised(x []float32, n, d int) []float64 {
	out := make([]float64, n*d)
	for i := range n {
		var s float64
		for j := range d {
			v := float64(x[i*d+j])
			s += v * v
		}
		if s > 0 {
			s = 1 / math.Sqrt(s)
		}
		for j := range d {
			out[i*d+j] = float64(x[i*d+j]) * s
		}
	}
	return out
}
