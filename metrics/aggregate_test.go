package metrics

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMeanBy(t *testing.T) {
	ids := []string{"b", "a", "b", "c", "a", "b"}
	labels := []bool{true, false, true, false, false, true}
	scores := []float64{0.9, 0.1, 0.6, 0.5, 0.3, 0.3}
	g, err := MeanBy(ids, labels, scores)
	if err != nil {
		t.Fatal(err)
	}
	want := Grouped{
		IDs:    []string{"a", "b", "c"},
		Labels: []bool{false, true, false},
		Scores: []float64{0.2, 0.6, 0.5},
		Counts: []int{2, 3, 1},
	}
	if diff := cmp.Diff(want, g, approx); diff != "" {
		t.Errorf("MeanBy (-want +got):\n%s", diff)
	}
	// Shuffling the input does not change the result.
	perm := rand.New(rand.NewPCG(1, 2)).Perm(len(ids))
	var ids2 []string
	var labels2 []bool
	var scores2 []float64
	for _, p := range perm {
		ids2, labels2, scores2 = append(ids2, ids[p]), append(labels2, labels[p]), append(scores2, scores[p])
	}
	g2, err := MeanBy(ids2, labels2, scores2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(g, g2, approx); diff != "" {
		t.Errorf("MeanBy after shuffling (-before +after):\n%s", diff)
	}
}

func TestMeanByErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		ids    []string
		labels []bool
		scores []float64
		msg    string
	}{
		{"empty", nil, nil, nil, "metrics: MeanBy: empty input"},
		{"length", []string{"a"}, []bool{true, false}, []float64{1}, "metrics: MeanBy: mismatched lengths: 1 ids, 2 labels, 1 scores"},
		{"labels", []string{"a", "b", "a"}, []bool{true, false, false}, []float64{1, 2, 3}, `metrics: MeanBy: group "a" has both labels (row 2 is false, earlier ones true)`},
		{"emptyid", []string{"a", ""}, []bool{true, true}, []float64{1, 2}, "metrics: MeanBy: row 1 has an empty group id"},
		{"nan", []string{"a"}, []bool{true}, []float64{0 / zero}, "metrics: MeanBy: score is not finite: score 0 is NaN"},
	} {
		_, err := MeanBy(c.ids, c.labels, c.scores)
		if err == nil || err.Error() != c.msg {
			t.Errorf("%s: error %v, want %q", c.name, err, c.msg)
		}
	}
}

var zero float64

func TestAggregate(t *testing.T) {
	clips := []ClipScore{
		{"s1", "v1", true, 0.2}, {"s1", "v1", true, 0.4}, {"s1", "v1", true, 0.6}, // v1 mean 0.4
		{"s1", "v2", true, 0.8}, // v2 0.8; s1 = mean(0.4, 0.8) = 0.6, not the clip mean 0.5
		{"s0", "v3", false, 0.1},
	}
	videos, studies, err := Aggregate(clips)
	if err != nil {
		t.Fatal(err)
	}
	wantV := Grouped{IDs: []string{"v1", "v2", "v3"}, Labels: []bool{true, true, false}, Scores: []float64{0.4, 0.8, 0.1}, Counts: []int{3, 1, 1}}
	wantS := Grouped{IDs: []string{"s0", "s1"}, Labels: []bool{false, true}, Scores: []float64{0.1, 0.6}, Counts: []int{1, 2}}
	if diff := cmp.Diff(wantV, videos, approx); diff != "" {
		t.Errorf("videos (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantS, studies, approx); diff != "" {
		t.Errorf("studies (-want +got):\n%s", diff)
	}

	bad := []struct {
		name  string
		clips []ClipScore
		msg   string
	}{
		{"empty", nil, "empty input"},
		{"video in two studies", []ClipScore{{"s1", "v", true, 0}, {"s2", "v", true, 0}}, `video "v" is in studies "s1" and "s2" (clip 1)`},
		{"study labels", []ClipScore{{"s1", "a", true, 0}, {"s1", "b", false, 0}}, `study "s1" has both labels (clip 1 is false, earlier ones true)`},
		{"empty study", []ClipScore{{"", "a", true, 0}}, "clip 0 has an empty study id"},
		{"empty video", []ClipScore{{"s", "", true, 0}}, "clip 0 has an empty video id"},
	}
	for _, c := range bad {
		_, _, err := Aggregate(c.clips)
		if err == nil || !strings.HasPrefix(err.Error(), "metrics: Aggregate: ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.msg)
		}
	}
	if _, _, err := Aggregate(nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("Aggregate(nil): %v", err)
	}
}
