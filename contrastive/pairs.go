package contrastive

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/vidssl/vidssl/video"
)

// GroupBy says which videos belong together: the videos of one study or of
// one patient.
type GroupBy int

const (
	// ByStudy groups the videos of a study (the manifest's study column); a
	// record without a study id is a study of its own. This is the paper's
	// grouping.
	ByStudy GroupBy = iota
	// ByPatient groups the videos of a patient (the manifest's patient
	// column), across studies. Every record needs a patient id.
	ByPatient
)

// String returns "study" or "patient".
func (b GroupBy) String() string {
	switch b {
	case ByStudy:
		return "study"
	case ByPatient:
		return "patient"
	}
	return fmt.Sprintf("GroupBy(%d)", int(b))
}

// groupKey returns r's group under b.
func groupKey(r video.Record, b GroupBy) (string, error) {
	switch b {
	case ByStudy:
		if r.Study == "" {
			return r.Path, nil
		}
		return r.Study, nil
	case ByPatient:
		if r.Patient == "" {
			return "", fmt.Errorf("contrastive: %s row %d (%s): no patient id to group by", r.File, r.Row, r.Path)
		}
		return r.Patient, nil
	}
	return "", fmt.Errorf("contrastive: unknown grouping %v", b)
}

// SimCLRItems returns one loader item per record of m, for SimCLR: each
// item has one path, and [PairSampler] makes its two views from one clip.
// The item's group is the record's study or patient (by), so that a loss may
// mask videos of one group; its label is the record's label.
func SimCLRItems(m *video.Manifest, by GroupBy) ([]video.Item, error) {
	if m == nil || len(m.Records) == 0 {
		return nil, fmt.Errorf("contrastive: SimCLR items: no records")
	}
	items := make([]video.Item, len(m.Records))
	for i, r := range m.Records {
		g, err := groupKey(r, by)
		if err != nil {
			return nil, err
		}
		items[i] = video.Item{Paths: []string{r.Path}, ID: r.Path, Label: r.Label, Group: g}
	}
	return items, nil
}

// MultiInstanceItems returns the multi-instance (MI-SimCLR) positive pairs
// of m: for every group (study or patient, by) with videos v1..vk in manifest
// order, one item per unordered pair {vi, vj}, i < j (all k(k-1)/2
// combinations, in itertools.combinations order); a group with a single
// video gives one item pairing the video with itself. Groups come in sorted
// order of their ids. Each item has two paths, its group's id as Group, the
// first video's label as Label, and "pathA|pathB" as ID. [PairSampler] takes
// an independent clip and augmentation from each path.
func MultiInstanceItems(m *video.Manifest, by GroupBy) ([]video.Item, error) {
	if m == nil || len(m.Records) == 0 {
		return nil, fmt.Errorf("contrastive: multi-instance items: no records")
	}
	members := map[string][]video.Record{}
	for _, r := range m.Records {
		g, err := groupKey(r, by)
		if err != nil {
			return nil, err
		}
		members[g] = append(members[g], r)
	}
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var items []video.Item
	for _, id := range ids {
		rs := members[id]
		if len(rs) == 1 {
			r := rs[0]
			items = append(items, video.Item{Paths: []string{r.Path, r.Path}, ID: r.Path + "|" + r.Path, Label: r.Label, Group: id})
			continue
		}
		for i := 0; i < len(rs); i++ {
			for j := i + 1; j < len(rs); j++ {
				a, b := rs[i], rs[j]
				items = append(items, video.Item{Paths: []string{a.Path, b.Path}, ID: a.Path + "|" + b.Path, Label: a.Label, Group: id})
			}
		}
	}
	return items, nil
}

// ViewFunc changes one augmented view and returns it with the view's label,
// for example pretext.RandomShuffle, which permutes the frames and returns
// the permutation's class. It draws its randomness from rng.
type ViewFunc func(rng *rand.Rand, clip *video.Video) (*video.Video, int, error)

// PairSampler returns a video.SampleFunc that makes the two views of a
// positive pair from an item, for a video.Loader:
//
//   - an item with one path (SimCLR, see SimCLRItems): one random clip of
//     length consecutive frames (video.TrainClipIndices, zero-padded when the
//     video is shorter), augmented twice with independent video.DrawAugment
//     draws;
//   - an item with two paths (multi-instance, see MultiInstanceItems; the
//     paths may be equal): an independent random clip and augmentation from
//     each.
//
// Then post, when not nil, changes each view and gives its label (the frame
// order class for MI-SimCLR+FO); without post both views carry the item's
// label. Draws are made view by view (clip, augmentation, post), so a seed
// fixes every view. The loader's Step then holds two batches, view 1 and
// view 2, with the items' groups in Batch.Groups.
func PairSampler(length int, post ViewFunc) video.SampleFunc {
	return func(rng *rand.Rand, item video.Item, videos []*video.Video) ([]video.View, error) {
		if len(videos) != 1 && len(videos) != 2 {
			return nil, fmt.Errorf("contrastive: pair sampler: item has %d videos, want 1 or 2", len(videos))
		}
		clip := func(v *video.Video) (*video.Video, error) {
			idx := video.TrainClipIndices(rng, v.T, length, 1)
			if idx == nil {
				return nil, fmt.Errorf("contrastive: pair sampler: %s: bad clip length %d", v.Source, length)
			}
			return video.Gather(v, idx)
		}
		var shared *video.Video
		if len(videos) == 1 {
			var err error
			if shared, err = clip(videos[0]); err != nil {
				return nil, err
			}
		}
		views := make([]video.View, 2)
		for k := range views {
			c := shared
			if c == nil {
				var err error
				if c, err = clip(videos[k]); err != nil {
					return nil, err
				}
			}
			c, err := video.DrawAugment(rng, c.H, c.W).Apply(c)
			if err != nil {
				return nil, err
			}
			label := item.Label
			if post != nil {
				if c, label, err = post(rng, c); err != nil {
					return nil, fmt.Errorf("contrastive: pair sampler: view %d: %w", k+1, err)
				}
			}
			views[k] = video.View{Clip: c, Label: label}
		}
		return views, nil
	}
}
