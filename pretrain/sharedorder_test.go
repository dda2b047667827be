package pretrain

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vidssl/vidssl/contrastive"
	"github.com/vidssl/vidssl/pretext"
	"github.com/vidssl/vidssl/video"
)

// TestSharedOrderSampler checks that Config.SharedOrder's sampler shuffles
// both views of a pair by one permutation, labelled with its class, and
// that the two views of the paper's sampler are shuffled independently.
func TestSharedOrderSampler(t *testing.T) {
	// Two videos whose frame t is filled with the value 10 t + video, so a
	// view's frames tell which source frame each one is.
	videos := make([]*video.Video, 2)
	for k := range videos {
		v, err := video.New(4, 32, 32, 1)
		if err != nil {
			t.Fatal(err)
		}
		for f := range v.T {
			for i := range v.Frame(f) {
				v.Frame(f)[i] = uint8(10*f + k + 1)
			}
		}
		videos[k] = v
	}
	// order returns the source frames of a view, from its centre pixel (the
	// augmentation's crop and rotation leave the centre inside the frame).
	order := func(c *video.Video) []int {
		out := make([]int, c.T)
		for f := range c.T {
			out[f] = int(c.Frame(f)[(c.H/2)*c.W+c.W/2]) / 10
		}
		return out
	}
	rng := rand.New(rand.NewPCG(1, 2))
	shared := sharedOrderSampler(contrastive.PairSampler(4, nil))
	independent := contrastive.PairSampler(4, pretext.RandomShuffle)
	differ := 0
	for range 50 {
		views, err := shared(rng, video.Item{Label: 0}, videos)
		if err != nil {
			t.Fatal(err)
		}
		p1, p2 := order(views[0].Clip), order(views[1].Clip)
		c1, err := pretext.Index(p1)
		if err != nil {
			t.Fatal(err)
		}
		if views[0].Label != views[1].Label || views[0].Label != c1 || !slices.Equal(p1, p2) {
			t.Fatalf("shared order: views shuffled %v (label %d) and %v (label %d)", p1, views[0].Label, p2, views[1].Label)
		}
		views, err = independent(rng, video.Item{Label: 0}, videos)
		if err != nil {
			t.Fatal(err)
		}
		if views[0].Label != views[1].Label {
			differ++
		}
	}
	if differ < 40 {
		t.Errorf("the paper's sampler gave the two views different permutations in only %d of 50 pairs", differ)
	}
}

// TestSharedOrderIdentity: SharedOrder off leaves a run's identity as it was
// before the field existed (so older checkpoints resume), and on changes it.
func TestSharedOrderIdentity(t *testing.T) {
	cfg := tinyConfig(MISimCLRFO)
	off := identityWithout(t, cfg, "SharedOrder")
	cfg.SharedOrder = true
	on, err := cfg.identity(nil)
	if err != nil {
		t.Fatal(err)
	}
	if on == off {
		t.Errorf("identity does not change with SharedOrder")
	}
	simclr := tinyConfig(SimCLR)
	a, _ := simclr.identity(nil)
	simclr.SharedOrder = true
	if b, _ := simclr.identity(nil); a != b {
		t.Errorf("SharedOrder changes SimCLR's identity (it has no frame order): %s vs %s", a, b)
	}
}
