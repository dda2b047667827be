package contrastive

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/video"
)

// testManifest has studies of 1..4 videos; study s has s%4+1 videos, and the
// patients P0..P2 each own several studies.
func testManifest(studies int) *video.Manifest {
	m := &video.Manifest{}
	for s := 0; s < studies; s++ {
		for v := 0; v <= s%4; v++ {
			m.Records = append(m.Records, video.Record{
				Path:    fmt.Sprintf("/data/S%02d_%d.avi", s, v),
				Study:   fmt.Sprintf("S%02d", s),
				Patient: fmt.Sprintf("P%d", s%3),
				Label:   s % 2,
			})
		}
	}
	return m
}

// fakeDecode makes a deterministic video from a path: 6..13 frames of 12x10
// grey pixels.
func fakeDecode(path string) (*video.Video, error) {
	h := fnv.New64a()
	h.Write([]byte(path))
	seed := h.Sum64()
	rng := rand.New(rand.NewPCG(seed, 1))
	v, err := video.New(6+int(seed%8), 12, 10, 1)
	if err != nil {
		return nil, err
	}
	for i := range v.Frames {
		v.Frames[i] = uint8(rng.IntN(256))
	}
	v.Source = path
	return v, nil
}

func TestMultiInstanceItems(t *testing.T) {
	m := testManifest(9)
	items, err := MultiInstanceItems(m, ByStudy)
	if err != nil {
		t.Fatal(err)
	}
	// Study s has k = s%4+1 videos: k(k-1)/2 pairs, or 1 when k = 1.
	want := 0
	for s := 0; s < 9; s++ {
		k := s%4 + 1
		want += max(1, k*(k-1)/2)
	}
	if len(items) != want {
		t.Fatalf("%d items, want %d", len(items), want)
	}
	seen := map[string]bool{}
	for _, it := range items {
		if len(it.Paths) != 2 {
			t.Fatalf("item %s has %d paths", it.ID, len(it.Paths))
		}
		a, b := it.Paths[0], it.Paths[1]
		if !strings.Contains(a, "/"+it.Group+"_") || !strings.Contains(b, "/"+it.Group+"_") {
			t.Errorf("pair %s crosses studies (group %s)", it.ID, it.Group)
		}
		key := min(a, b) + "|" + max(a, b)
		if seen[key] {
			t.Errorf("pair %s twice", key)
		}
		seen[key] = true
		if a == b && !strings.HasSuffix(a, "_0.avi") {
			t.Errorf("self pair %s in a study with several videos", a)
		}
	}
	// Order: sorted studies, itertools.combinations within.
	if items[0].ID != "/data/S00_0.avi|/data/S00_0.avi" || items[1].ID != "/data/S01_0.avi|/data/S01_1.avi" ||
		items[4].ID != "/data/S02_1.avi|/data/S02_2.avi" {
		t.Errorf("item order: %s, %s, %s", items[0].ID, items[1].ID, items[4].ID)
	}

	byPatient, err := MultiInstanceItems(m, ByPatient)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range byPatient {
		if !strings.HasPrefix(it.Group, "P") {
			t.Errorf("patient pair %s has group %s", it.ID, it.Group)
		}
	}
	if len(byPatient) <= len(items) {
		t.Errorf("grouping by patient gives %d pairs, by study %d: want more", len(byPatient), len(items))
	}
	m.Records[3].Patient = ""
	if _, err := MultiInstanceItems(m, ByPatient); err == nil || !strings.Contains(err.Error(), m.Records[3].Path) {
		t.Errorf("missing patient id: error %v", err)
	}
	if _, err := MultiInstanceItems(&video.Manifest{}, ByStudy); err == nil {
		t.Error("empty manifest: no error")
	}
}

func TestSimCLRItems(t *testing.T) {
	m := testManifest(5)
	items, err := SimCLRItems(m, ByStudy)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(m.Records) {
		t.Fatalf("%d items for %d records", len(items), len(m.Records))
	}
	for i, it := range items {
		if len(it.Paths) != 1 || it.Paths[0] != m.Records[i].Path || it.Group != m.Records[i].Study {
			t.Errorf("item %d: %+v", i, it)
		}
	}
}

// epochPairs runs one loader epoch over MI pairs and returns the item IDs in
// order, checking the views on the way.
func epochPairs(t *testing.T, items []video.Item, seed uint64, epoch int, post ViewFunc) ([]string, [][]float32) {
	t.Helper()
	l, err := video.NewLoader(video.LoaderConfig{
		Items: items, Decode: fakeDecode, Sample: PairSampler(4, post), BatchSize: 5,
		Shuffle: true, Seed: seed, Workers: 2, Batch: video.BatchOptions{Channels: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var data [][]float32
	for step, err := range l.Batches(context.Background(), epoch) {
		if err != nil {
			t.Fatal(err)
		}
		if len(step.Views) != 2 {
			t.Fatalf("%d views, want 2", len(step.Views))
		}
		v1, v2 := step.Views[0], step.Views[1]
		if v1.Shape != v2.Shape || v1.Shape[1] != 3 || v1.Shape[2] != 4 || v1.Shape[3] != 12 || v1.Shape[4] != 10 {
			t.Fatalf("view shapes %v and %v", v1.Shape, v2.Shape)
		}
		for i := range v1.IDs {
			if v1.IDs[i] != v2.IDs[i] || v1.Groups[i] != v2.Groups[i] {
				t.Fatalf("views disagree on item %d", i)
			}
		}
		ids = append(ids, v1.IDs...)
		data = append(data, v1.Data, v2.Data)
	}
	return ids, data
}

// TestPairEpochs: every pair of every study appears exactly once per epoch,
// the order is shuffled per epoch, and a seed fixes order and views.
func TestPairEpochs(t *testing.T) {
	items, err := MultiInstanceItems(testManifest(10), ByStudy)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]string, len(items))
	for i, it := range items {
		all[i] = it.ID
	}
	slices.Sort(all)
	e0, d0 := epochPairs(t, items, 7, 0, nil)
	e1, _ := epochPairs(t, items, 7, 1, nil)
	again, dAgain := epochPairs(t, items, 7, 0, nil)
	other, _ := epochPairs(t, items, 8, 0, nil)
	for name, ids := range map[string][]string{"epoch 0": e0, "epoch 1": e1, "seed 8": other} {
		sorted := slices.Clone(ids)
		slices.Sort(sorted)
		if !slices.Equal(sorted, all) {
			t.Errorf("%s: the epoch's pairs are not each pair once", name)
		}
	}
	if !slices.Equal(e0, again) {
		t.Error("same seed and epoch: different order")
	}
	for i := range d0 {
		if !slices.Equal(d0[i], dAgain[i]) {
			t.Fatal("same seed and epoch: different views")
		}
	}
	if slices.Equal(e0, e1) || slices.Equal(e0, other) {
		t.Error("the order does not change with the epoch or the seed")
	}
}

// TestPairSamplerViews checks how views are made: SimCLR views share one clip
// (the same frames before augmentation), multi-instance views come from the
// two videos, and post runs on each view.
func TestPairSamplerViews(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a, _ := fakeDecode("a.avi")
	b, _ := fakeDecode("b.avi")
	calls := 0
	post := func(rng *rand.Rand, clip *video.Video) (*video.Video, int, error) {
		calls++
		return clip, 10 + calls, nil
	}
	views, err := PairSampler(4, post)(rng, video.Item{Paths: []string{"a.avi", "b.avi"}, Label: 1}, []*video.Video{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(views) != 2 || views[0].Label != 11 || views[1].Label != 12 || views[0].Clip.T != 4 {
		t.Fatalf("views: %d, labels %d %d", len(views), views[0].Label, views[1].Label)
	}
	if views[0].Clip.Source != "a.avi" || views[1].Clip.Source != "b.avi" {
		t.Errorf("views from %s and %s, want a.avi and b.avi", views[0].Clip.Source, views[1].Clip.Source)
	}
	// SimCLR: one clip, two independent augmentations.
	views, err = PairSampler(4, nil)(rng, video.Item{Paths: []string{"a.avi"}, Label: 1}, []*video.Video{a})
	if err != nil {
		t.Fatal(err)
	}
	if views[0].Label != 1 || views[1].Label != 1 {
		t.Errorf("labels %d, %d; want the item's", views[0].Label, views[1].Label)
	}
	if slices.Equal(views[0].Clip.Frames, views[1].Clip.Frames) {
		t.Error("SimCLR views are identical: augmentations not independent")
	}
	if _, err := PairSampler(4, nil)(rng, video.Item{}, []*video.Video{a, b, a}); err == nil {
		t.Error("three videos: no error")
	}
	fail := func(*rand.Rand, *video.Video) (*video.Video, int, error) { return nil, 0, fmt.Errorf("boom") }
	if _, err := PairSampler(4, fail)(rng, video.Item{}, []*video.Video{a}); err == nil || !strings.Contains(err.Error(), "view 1: boom") {
		t.Errorf("post error: %v", err)
	}
}

func TestRetrievalTop1(t *testing.T) {
	// Items 0, 1 (group a) point one way, 2, 3 (group b) another; item 4
	// (group c) is alone and not a query.
	f := []float32{
		1, 0.1, 0,
		1, 0, 0.1,
		0, 1, 0.2,
		0.1, 1, 0,
		-1, 0, 0,
	}
	g := []string{"a", "a", "b", "b", "c"}
	r, err := RetrievalTop1(f, 5, 3, g)
	if err != nil {
		t.Fatal(err)
	}
	if r.Queries != 4 || r.Hits != 4 || r.Rate() != 1 || r.Chance != 0.25 {
		t.Errorf("retrieval %+v, want 4 of 4, chance 0.25", r)
	}
	g = []string{"a", "b", "a", "b", "c"}
	if r, _ = RetrievalTop1(f, 5, 3, g); r.Hits != 0 {
		t.Errorf("mismatched groups: %d hits", r.Hits)
	}
	if _, err := RetrievalTop1(f[:14], 5, 3, g); err == nil {
		t.Error("short features: no error")
	}
}
