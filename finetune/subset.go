package finetune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/vidssl/vidssl/video"
)

// subsetStream is the PCG stream of the label-fraction permutation.
const subsetStream = 0x5ab5e7

// permutation returns the distinct study ids, sorted and then shuffled by
// seed: the order in which label-fraction subsets take studies.
func permutation(fn string, studies []string, seed uint64) ([]string, error) {
	if len(studies) == 0 {
		return nil, fmt.Errorf("finetune: %s: no studies", fn)
	}
	ids := slices.Clone(studies)
	for i, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("finetune: %s: study %d has an empty id", fn, i)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rng := rand.New(rand.NewPCG(seed, subsetStream))
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids, nil
}

// subsetSize returns how many of n studies the fraction f takes: round(f*n),
// at least 1.
func subsetSize(fn string, f float64, n int) (int, error) {
	if !(f > 0 && f <= 1) {
		return 0, fmt.Errorf("finetune: %s: fraction %v, want (0, 1]", fn, f)
	}
	return max(1, min(n, int(math.Round(f*float64(n))))), nil
}

// Subsets returns, for every fraction in (0, 1], a random subset of the
// training studies of round(fraction * n) studies (at least 1), n being the
// number of distinct ids in trainStudies: the paper's label fractions (1% of
// its 5,311 training studies is 53). The subsets are random and
// unstratified, and nested: each is a prefix of one permutation of the
// sorted ids drawn from seed (the paper uses seed 0), so the 1% subset lies
// inside the 5% subset, and so on. Each subset is returned sorted. The
// result depends only on the set of ids, the fractions and the seed, so
// every initialisation sees the same subsets.
//
// A small subset may hold studies of one class only, for which pos_weight is
// undefined and FineTune returns an error; SubsetsBothClasses avoids that.
func Subsets(trainStudies []string, fractions []float64, seed uint64) (map[float64][]string, error) {
	const fn = "subsets"
	perm, err := permutation(fn, trainStudies, seed)
	if err != nil {
		return nil, err
	}
	out := make(map[float64][]string, len(fractions))
	for _, f := range fractions {
		k, err := subsetSize(fn, f, len(perm))
		if err != nil {
			return nil, err
		}
		out[f] = sortedCopy(perm[:k])
	}
	return out, nil
}

// SubsetsBothClasses is Subsets made safe for training: a subset whose
// studies are all of one class also gets the first study of the missing
// class in the permutation order, so it holds at least one positive and one
// negative study (and may be one study larger than Subsets'). The subsets
// stay nested: when a subset lacks a class, every smaller one lacks it too
// and gets the same study. labels maps every study to 0 or 1 (see
// StudyLabels); the whole set must hold both classes.
func SubsetsBothClasses(trainStudies []string, labels map[string]int, fractions []float64, seed uint64) (map[float64][]string, error) {
	const fn = "subsets with both classes"
	perm, err := permutation(fn, trainStudies, seed)
	if err != nil {
		return nil, err
	}
	first := [2]int{-1, -1} // position of the first study of each class
	for i, id := range perm {
		l, ok := labels[id]
		if !ok || (l != 0 && l != 1) {
			return nil, fmt.Errorf("finetune: %s: study %q has label %d (known: %v), want 0 or 1", fn, id, l, ok)
		}
		if first[l] < 0 {
			first[l] = i
		}
	}
	if first[0] < 0 || first[1] < 0 {
		return nil, fmt.Errorf("finetune: %s: all %d studies are of class %d", fn, len(perm), labels[perm[0]])
	}
	out := make(map[float64][]string, len(fractions))
	for _, f := range fractions {
		k, err := subsetSize(fn, f, len(perm))
		if err != nil {
			return nil, err
		}
		s := slices.Clone(perm[:k])
		for _, at := range first {
			if at >= k {
				s = append(s, perm[at])
			}
		}
		out[f] = sortedCopy(s)
	}
	return out, nil
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// studyKey is video.Manifest's study id of a record: its Study, or its path
// when it has none.
func studyKey(r video.Record) string {
	if r.Study == "" {
		return r.Path
	}
	return r.Study
}

// StudyLabels returns each study's label (0 or 1) in m. A record without a
// label, or a study whose videos disagree, is an error naming it.
func StudyLabels(m *video.Manifest) (map[string]int, error) {
	if m == nil {
		return nil, fmt.Errorf("finetune: study labels: nil manifest")
	}
	out := map[string]int{}
	for _, r := range m.Records {
		if r.Label != 0 && r.Label != 1 {
			return nil, fmt.Errorf("finetune: study labels: %s row %d (%s): label %d, want 0 or 1", r.File, r.Row, r.Path, r.Label)
		}
		s := studyKey(r)
		if l, ok := out[s]; ok && l != r.Label {
			return nil, fmt.Errorf("finetune: study labels: study %q has videos labelled %d and %d (%s row %d)", s, l, r.Label, r.File, r.Row)
		}
		out[s] = r.Label
	}
	return out, nil
}

// SelectStudies returns the records of m that belong to the given studies,
// in manifest order. A study that m does not hold is an error (a subset of
// another manifest, or a typo).
func SelectStudies(m *video.Manifest, studies []string) (*video.Manifest, error) {
	if m == nil {
		return nil, fmt.Errorf("finetune: select studies: nil manifest")
	}
	want := make(map[string]bool, len(studies))
	for _, s := range studies {
		want[s] = true
	}
	out := &video.Manifest{}
	found := map[string]bool{}
	for _, r := range m.Records {
		if s := studyKey(r); want[s] {
			out.Records = append(out.Records, r)
			found[s] = true
		}
	}
	for _, s := range studies {
		if !found[s] {
			return nil, fmt.Errorf("finetune: select studies: study %q is not in the manifest (%d records)", s, len(m.Records))
		}
	}
	return out, nil
}

// PosWeight returns BCEWithLogits' pos_weight for training on m: the number
// of negative videos over the number of positive videos. A manifest without
// both classes, or with an unlabelled record, is an error: pos_weight is
// then undefined (no positives) or zero (no negatives).
func PosWeight(m *video.Manifest) (float32, error) {
	if m == nil {
		return 0, fmt.Errorf("finetune: pos_weight: nil manifest")
	}
	var pos, neg int
	for _, r := range m.Records {
		switch r.Label {
		case 1:
			pos++
		case 0:
			neg++
		default:
			return 0, fmt.Errorf("finetune: pos_weight: %s row %d (%s): label %d, want 0 or 1", r.File, r.Row, r.Path, r.Label)
		}
	}
	if pos == 0 || neg == 0 {
		return 0, fmt.Errorf("finetune: pos_weight: %d positive and %d negative videos: training needs both classes (see SubsetsBothClasses)", pos, neg)
	}
	return float32(float64(neg) / float64(pos)), nil
}
