package contrastive

import (
	"fmt"
	"math"
)

// Retrieval is the result of [RetrievalTop1].
type Retrieval struct {
	// Queries is the number of items that have another item of their group.
	Queries int
	// Hits is how many of them have, as nearest other item by cosine
	// similarity, an item of their own group.
	Hits int
	// Chance is the expected hit rate of a random neighbour: the mean over
	// queries of (group size - 1) / (items - 1).
	Chance float64
}

// Rate returns Hits / Queries (0 without queries).
func (r Retrieval) Rate() float64 {
	if r.Queries == 0 {
		return 0
	}
	return float64(r.Hits) / float64(r.Queries)
}

// RetrievalTop1 measures how well embeddings identify their group: for every
// item i (row i of the row-major n x d features) that shares its group with
// at least one other item, it finds the other item j != i of highest cosine
// similarity and counts a hit when groups[j] == groups[i]. Ties go to the
// lower index. Zero vectors have similarity 0 with everything.
func RetrievalTop1(features []float32, n, d int, groups []string) (Retrieval, error) {
	if n < 2 || d < 1 || len(features) != n*d || len(groups) != n {
		return Retrieval{}, fmt.Errorf("contrastive: retrieval: %d values and %d groups for %d x %d features, want n >= 2", len(features), len(groups), n, d)
	}
	size := map[string]int{}
	for _, g := range groups {
		size[g]++
	}
	u := make([]float64, n*d)
	for i := 0; i < n; i++ {
		row := features[i*d : (i+1)*d]
		var ss float64
		for _, v := range row {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return Retrieval{}, fmt.Errorf("contrastive: retrieval: item %d has a non-finite feature %v", i, v)
			}
			ss += float64(v) * float64(v)
		}
		if ss == 0 {
			continue
		}
		inv := 1 / math.Sqrt(ss)
		for c, v := range row {
			u[i*d+c] = float64(v) * inv
		}
	}
	var r Retrieval
	var chance float64
	for i := 0; i < n; i++ {
		if size[groups[i]] < 2 {
			continue
		}
		best, bestSim := -1, math.Inf(-1)
		ui := u[i*d : (i+1)*d]
		for j := 0; j < n; j++ {
			if j == i {
				continue
			}
			var s float64
			for c, v := range u[j*d : (j+1)*d] {
				s += v * ui[c]
			}
			if s > bestSim {
				best, bestSim = j, s
			}
		}
		r.Queries++
		chance += float64(size[groups[i]]-1) / float64(n-1)
		if groups[best] == groups[i] {
			r.Hits++
		}
	}
	if r.Queries > 0 {
		r.Chance = chance / float64(r.Queries)
	}
	return r, nil
}
