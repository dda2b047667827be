package probe_test

import (
	"fmt"

	"github.com/vidssl/vidssl/probe"
)

// A linear probe and a k-NN probe on two-dimensional features: negatives
// point along the first axis, positives along the second.
func Example() {
	train := []float32{1, 0.1, 0.9, -0.1, 1.1, 0.2, 0.1, 1, -0.1, 0.9, 0.2, 1.2}
	labels := []int{0, 0, 0, 1, 1, 1}
	test := []float32{1, 0, 0, 1}

	m, err := probe.Linear{}.Fit(train, 6, 2, labels)
	if err != nil {
		fmt.Println(err)
		return
	}
	lin, _ := m.Scores(test, 2)
	knn, _ := probe.KNN{K: 3}.Scores(train, 6, labels, test, 2, 2)
	fmt.Printf("linear: %.2f %.2f\n", lin[0], lin[1])
	fmt.Printf("k-NN:   %.2f %.2f\n", knn[0], knn[1])
	// Output:
	// linear: 0.14 0.86
	// k-NN:   0.00 1.00
}
