package probe

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

type golden struct {
	N, M, D  int
	X        []float32
	Y        []int
	Logistic []struct {
		C        float64
		Balanced bool
		Weights  []float64
		Bias     float64
		Scores   []float64
	}
	KNN []struct {
		K      int
		T      float64
		Scores []float64
	}
}

func readGolden(t *testing.T) golden {
	t.Helper()
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func closeTo(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol {
			t.Errorf("%s[%d] = %.8f, want %.8f", what, i, got[i], want[i])
		}
	}
}

// TestLinearMatchesSklearn compares the fitted weights and held-out
// probabilities with scikit-learn's LogisticRegression on StandardScaler
// features (testdata/make_golden.py).
func TestLinearMatchesSklearn(t *testing.T) {
	g := readGolden(t)
	train, test := g.X[:g.N*g.D], g.X[g.N*g.D:]
	for _, c := range g.Logistic {
		m, err := Linear{C: c.C, Balanced: c.Balanced}.Fit(train, g.N, g.D, g.Y)
		if err != nil {
			t.Fatal(err)
		}
		s, err := m.Scores(test, g.M)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, "weights", m.Weights, c.Weights, 1e-6)
		closeTo(t, "bias", []float64{m.Bias}, []float64{c.Bias}, 1e-6)
		closeTo(t, "scores", s, c.Scores, 1e-7)
	}
}

// TestKNNMatchesNumpy compares with solo-learn's weighted k-NN in numpy.
func TestKNNMatchesNumpy(t *testing.T) {
	g := readGolden(t)
	train, test := g.X[:g.N*g.D], g.X[g.N*g.D:]
	for _, c := range g.KNN {
		s, err := KNN{K: c.K, Temperature: c.T}.Scores(train, g.N, g.Y, test, g.M, g.D)
		if err != nil {
			t.Fatal(err)
		}
		closeTo(t, "knn", s, c.Scores, 1e-9)
	}
}

// TestEdges covers one row, one feature, a constant feature, separable
// data, and bad input.
func TestEdges(t *testing.T) {
	// Separable: the scores still order the rows right and stay finite.
	x := []float32{0, 1, 2, 3}
	m, err := Linear{C: 100}.Fit(x, 4, 1, []int{0, 0, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Scores([]float32{-1, 1.5, 5}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !(s[0] < s[1] && s[1] < s[2]) {
		t.Errorf("separable scores %v, want increasing", s)
	}
	// A constant feature next to an informative one.
	x = []float32{7, 0, 7, 1, 7, 2, 7, 3}
	if _, err := (Linear{}).Fit(x, 4, 2, []int{0, 1, 0, 1}); err != nil {
		t.Errorf("constant feature: %v", err)
	}
	// One training row: k-NN answers with its label.
	k, err := KNN{}.Scores([]float32{1, 0}, 1, []int{1}, []float32{0, 1, 1, 1}, 2, 2)
	if err != nil || k[0] != 1 || k[1] != 1 {
		t.Errorf("k-NN from one row: %v %v", k, err)
	}
	bad := []struct {
		name string
		err  error
		want string
	}{
		{"one class", fitErr([]float32{1, 2}, 2, 1, []int{1, 1}), "one class"},
		{"no rows", fitErr(nil, 0, 1, nil), "0 rows"},
		{"short", fitErr([]float32{1, 2, 3}, 2, 2, []int{0, 1}), "3 values"},
		{"label", fitErr([]float32{1, 2}, 2, 1, []int{0, 2}), "label 2"},
		{"nan", fitErr([]float32{1, float32(math.NaN())}, 2, 1, []int{0, 1}), "row 1 feature 0"},
		{"knn labels", knnErr(KNN{}, 2), "labels"},
		{"knn temp", knnErr(KNN{Temperature: -1}, 1), "Temperature"},
	}
	for _, b := range bad {
		if b.err == nil || !strings.Contains(b.err.Error(), b.want) {
			t.Errorf("%s: error %v, want one containing %q", b.name, b.err, b.want)
		}
	}
	if _, err := (*Logistic)(nil).Scores([]float32{1}, 1); err == nil {
		t.Error("nil model scored")
	}
	if _, err := m.Scores([]float32{1, 2}, 1); err == nil {
		t.Error("a row of the wrong width was scored")
	}
}

func fitErr(x []float32, n, d int, y []int) error {
	_, err := Linear{}.Fit(x, n, d, y)
	return err
}

func knnErr(k KNN, labels int) error {
	_, err := k.Scores([]float32{1, 0}, 1, make([]int, labels), []float32{0, 1}, 1, 2)
	return err
}
