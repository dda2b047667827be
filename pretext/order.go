package pretext

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/vidssl/vidssl/video"
)

// MaxFrames is the largest K for which the permutation table is built
// (8! = 40320 classes).
const MaxFrames = 8

// Classes returns K!, the number of frame orders of a K-frame clip, or 0
// when k is outside 1..MaxFrames.
func Classes(k int) int {
	if k < 1 || k > MaxFrames {
		return 0
	}
	return factorial(k)
}

// factorial returns n! (1 for n <= 1).
func factorial(n int) int {
	f := 1
	for i := 2; i <= n; i++ {
		f *= i
	}
	return f
}

var (
	tablesMu sync.Mutex
	tables   = map[int][][]int{}
)

// table returns the shared permutation table of k (not a copy).
func table(k int) ([][]int, error) {
	if k < 1 || k > MaxFrames {
		return nil, fmt.Errorf("pretext: %d frames, want 1..%d", k, MaxFrames)
	}
	tablesMu.Lock()
	defer tablesMu.Unlock()
	if t, ok := tables[k]; ok {
		return t, nil
	}
	t := make([][]int, 0, Classes(k))
	perm := make([]int, k)
	for i := range perm {
		perm[i] = i
	}
	for {
		t = append(t, append([]int(nil), perm...))
		if !nextPermutation(perm) {
			break
		}
	}
	tables[k] = t
	return t, nil
}

// nextPermutation advances p to the next permutation in lexicographic order
// and reports whether there was one.
func nextPermutation(p []int) bool {
	i := len(p) - 2
	for i >= 0 && p[i] >= p[i+1] {
		i--
	}
	if i < 0 {
		return false
	}
	j := len(p) - 1
	for p[j] <= p[i] {
		j--
	}
	p[i], p[j] = p[j], p[i]
	for a, b := i+1, len(p)-1; a < b; a, b = a+1, b-1 {
		p[a], p[b] = p[b], p[a]
	}
	return true
}

// Permutations returns the K! permutations of 0..k-1 in lexicographic order,
// as Python's itertools.permutations(range(k)) lists them: class c of the
// frame-order task is Permutations(k)[c]. The result is a fresh copy.
func Permutations(k int) ([][]int, error) {
	t, err := table(k)
	if err != nil {
		return nil, err
	}
	out := make([][]int, len(t))
	for i, p := range t {
		out[i] = append([]int(nil), p...)
	}
	return out, nil
}

// Permutation returns the permutation of class c for k frames (a copy).
func Permutation(k, class int) ([]int, error) {
	t, err := table(k)
	if err != nil {
		return nil, err
	}
	if class < 0 || class >= len(t) {
		return nil, fmt.Errorf("pretext: class %d of %d frames, want 0..%d", class, k, len(t)-1)
	}
	return append([]int(nil), t[class]...), nil
}

// Index returns the class of perm, its rank among the permutations of
// 0..len(perm)-1 in lexicographic order. perm must be a permutation.
func Index(perm []int) (int, error) {
	k := len(perm)
	if k < 1 || k > MaxFrames {
		return 0, fmt.Errorf("pretext: permutation %v: want 1..%d elements", perm, MaxFrames)
	}
	seen := make([]bool, k)
	for _, v := range perm {
		if v < 0 || v >= k || seen[v] {
			return 0, fmt.Errorf("pretext: %v is not a permutation of 0..%d", perm, k-1)
		}
		seen[v] = true
	}
	// Lehmer code: rank = sum_i (number of later elements smaller than
	// perm[i]) * (k-1-i)!.
	rank := 0
	for i, v := range perm {
		smaller := 0
		for _, w := range perm[i+1:] {
			if w < v {
				smaller++
			}
		}
		rank += smaller * factorial(k-1-i)
	}
	return rank, nil
}

// Shuffle returns a copy of clip with its frames reordered by perm, a
// permutation of 0..clip.T-1: frame t of the result is frame perm[t] of
// clip (numpy's clip[perm], as the public code does), and the class of perm
// (see Index), the label of the frame-order task.
func Shuffle(clip *video.Video, perm []int) (*video.Video, int, error) {
	if err := checkClip(clip, perm); err != nil {
		return nil, 0, err
	}
	class, err := Index(perm)
	if err != nil {
		return nil, 0, err
	}
	out := *clip
	out.Frames = make([]uint8, len(clip.Frames))
	for t, src := range perm {
		copy(out.Frame(t), clip.Frame(src))
	}
	return &out, class, nil
}

// Unshuffle undoes Shuffle: frame perm[t] of the result is frame t of clip,
// so Unshuffle(Shuffle(v, perm), perm) equals v.
func Unshuffle(clip *video.Video, perm []int) (*video.Video, error) {
	if err := checkClip(clip, perm); err != nil {
		return nil, err
	}
	if _, err := Index(perm); err != nil {
		return nil, err
	}
	out := *clip
	out.Frames = make([]uint8, len(clip.Frames))
	for t, dst := range perm {
		copy(out.Frame(dst), clip.Frame(t))
	}
	return &out, nil
}

func checkClip(clip *video.Video, perm []int) error {
	if clip == nil {
		return fmt.Errorf("pretext: shuffle: nil clip")
	}
	if err := clip.Validate(); err != nil {
		return fmt.Errorf("pretext: shuffle: %w", err)
	}
	if len(perm) != clip.T {
		return fmt.Errorf("pretext: shuffle %s: permutation of %d frames for a clip of %d", clip.Source, len(perm), clip.T)
	}
	return nil
}

// RandomShuffle draws a frame order uniformly from the clip.T! classes (as
// the public code's np.random.choice does), shuffles the clip with it and
// returns the shuffled clip and the class. Its signature is a
// contrastive.ViewFunc, so it plugs into contrastive.PairSampler for
// MI-SimCLR+FO.
func RandomShuffle(rng *rand.Rand, clip *video.Video) (*video.Video, int, error) {
	if clip == nil {
		return nil, 0, fmt.Errorf("pretext: random shuffle: nil clip")
	}
	t, err := table(clip.T)
	if err != nil {
		return nil, 0, fmt.Errorf("pretext: random shuffle %s: %w", clip.Source, err)
	}
	return Shuffle(clip, t[rng.IntN(len(t))])
}
