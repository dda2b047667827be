package metrics

import (
	"fmt"
	"slices"
)

// Grouped holds one row per group: its id, its label, its mean score and
// how many rows were averaged into it. Rows are sorted by ID (byte-wise
// string order), whatever the order of the input, so the result does not
// depend on how the input was shuffled. Labels and Scores can be passed
// straight to AUROC, Bootstrap and the other functions of this package.
type Grouped struct {
	IDs    []string
	Labels []bool
	Scores []float64
	Counts []int
}

// Len returns the number of groups.
func (g Grouped) Len() int { return len(g.IDs) }

// MeanBy groups rows by ids[i] and averages their scores. Every row of a
// group must carry the same label, or MeanBy returns an error naming the
// group. Empty input, mismatched lengths, an empty id and NaN or infinite
// scores are errors. The output is sorted by id; within a group the scores
// are summed in input order.
func MeanBy(ids []string, labels []bool, scores []float64) (Grouped, error) {
	if len(ids) != len(labels) || len(ids) != len(scores) {
		return Grouped{}, fmt.Errorf("metrics: MeanBy: %w: %d ids, %d labels, %d scores",
			ErrLength, len(ids), len(labels), len(scores))
	}
	return meanBy("MeanBy", "group", "row", ids, labels, scores)
}

func meanBy(fn, group, row string, ids []string, labels []bool, scores []float64) (Grouped, error) {
	if len(ids) == 0 {
		return Grouped{}, fmt.Errorf("metrics: %s: %w", fn, ErrEmpty)
	}
	if err := checkFinite(fn, scores); err != nil {
		return Grouped{}, err
	}
	type acc struct {
		label bool
		sum   float64
		n     int
	}
	m := make(map[string]*acc)
	for i, id := range ids {
		if id == "" {
			return Grouped{}, fmt.Errorf("metrics: %s: %s %d has an empty %s id", fn, row, i, group)
		}
		a, ok := m[id]
		if !ok {
			a = &acc{label: labels[i]}
			m[id] = a
		} else if a.label != labels[i] {
			return Grouped{}, fmt.Errorf("metrics: %s: %s %q has both labels (%s %d is %v, earlier ones %v)",
				fn, group, id, row, i, labels[i], a.label)
		}
		a.sum += scores[i]
		a.n++
	}
	g := Grouped{IDs: make([]string, 0, len(m))}
	for id := range m {
		g.IDs = append(g.IDs, id)
	}
	slices.Sort(g.IDs)
	g.Labels = make([]bool, len(g.IDs))
	g.Scores = make([]float64, len(g.IDs))
	g.Counts = make([]int, len(g.IDs))
	for k, id := range g.IDs {
		a := m[id]
		g.Labels[k], g.Scores[k], g.Counts[k] = a.label, a.sum/float64(a.n), a.n
	}
	return g, nil
}

// ClipScore is the predicted probability for one clip of one video of one
// study, with the study's label.
type ClipScore struct {
	Study, Video string
	Label        bool
	Score        float64
}

// Aggregate averages clip scores into video scores (the mean over a video's
// clips) and video scores into study scores (the mean over a study's videos,
// so every video weighs the same whatever its number of clips). Both results
// are sorted by id; a study's Counts is its number of videos.
//
// Video ids must be unique across studies: a video listed under two studies
// is an error, as are labels that differ within a video or a study, empty
// ids, and NaN or infinite scores.
func Aggregate(clips []ClipScore) (videos, studies Grouped, err error) {
	if len(clips) == 0 {
		return Grouped{}, Grouped{}, fmt.Errorf("metrics: Aggregate: %w", ErrEmpty)
	}
	ids := make([]string, len(clips))
	labels := make([]bool, len(clips))
	scores := make([]float64, len(clips))
	studyOf := make(map[string]string)
	labelOf := make(map[string]bool)
	for i, c := range clips {
		if c.Study == "" {
			return Grouped{}, Grouped{}, fmt.Errorf("metrics: Aggregate: clip %d has an empty study id", i)
		}
		if s, ok := studyOf[c.Video]; ok && s != c.Study {
			return Grouped{}, Grouped{}, fmt.Errorf("metrics: Aggregate: video %q is in studies %q and %q (clip %d)",
				c.Video, s, c.Study, i)
		}
		if l, ok := labelOf[c.Study]; ok && l != c.Label {
			return Grouped{}, Grouped{}, fmt.Errorf("metrics: Aggregate: study %q has both labels (clip %d is %v, earlier ones %v)",
				c.Study, i, c.Label, l)
		}
		studyOf[c.Video] = c.Study
		labelOf[c.Study] = c.Label
		ids[i], labels[i], scores[i] = c.Video, c.Label, c.Score
	}
	videos, err = meanBy("Aggregate", "video", "clip", ids, labels, scores)
	if err != nil {
		return Grouped{}, Grouped{}, err
	}
	sids := make([]string, videos.Len())
	for k, v := range videos.IDs {
		sids[k] = studyOf[v]
	}
	studies, err = meanBy("Aggregate", "study", "video", sids, videos.Labels, videos.Scores)
	if err != nil {
		return Grouped{}, Grouped{}, err
	}
	return videos, studies, nil
}
