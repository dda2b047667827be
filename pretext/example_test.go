package pretext_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/vidssl/vidssl/pretext"
	"github.com/vidssl/vidssl/video"
)

// Shuffle a 4-frame clip by one of the 24 orders and undo it.
func ExampleShuffle() {
	perms, err := pretext.Permutations(4)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(perms), "classes; class 1 is", perms[1], "and class 23 is", perms[23])

	clip, err := video.New(4, 1, 1, 1) // four 1-pixel frames: 0, 10, 20, 30
	if err != nil {
		fmt.Println(err)
		return
	}
	copy(clip.Frames, []uint8{0, 10, 20, 30})
	shuffled, class, err := pretext.Shuffle(clip, []int{2, 0, 3, 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	back, err := pretext.Unshuffle(shuffled, []int{2, 0, 3, 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("shuffled", shuffled.Frames, "class", class, "restored", back.Frames)

	// RandomShuffle draws the order, as a contrastive.ViewFunc does.
	_, c, err := pretext.RandomShuffle(rand.New(rand.NewPCG(1, 2)), clip)
	fmt.Println(c >= 0 && c < 24, err)
	// Output:
	// 24 classes; class 1 is [0 1 3 2] and class 23 is [3 2 1 0]
	// shuffled [20 0 30 10] class 13 restored [0 10 20 30]
	// true <nil>
}
