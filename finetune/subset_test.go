package finetune

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/video"
)

func studyIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("S%05d", i)
	}
	return ids
}

// isSubset reports whether every element of a is in b.
func isSubset(a, b []string) bool {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	for _, s := range a {
		if !in[s] {
			return false
		}
	}
	return true
}

func TestSubsetsNestedAndDeterministic(t *testing.T) {
	ids := studyIDs(5311) // the paper's training studies
	subs, err := Subsets(ids, PaperFractions, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[float64]int{0.01: 53, 0.05: 266, 0.10: 531, 0.25: 1328, 0.50: 2656, 0.75: 3983, 1: 5311}
	for i, f := range PaperFractions {
		s := subs[f]
		if len(s) != want[f] {
			t.Errorf("fraction %v: %d studies, want %d", f, len(s), want[f])
		}
		if !slices.IsSorted(s) || len(slices.Compact(slices.Clone(s))) != len(s) {
			t.Errorf("fraction %v: not sorted or has duplicates", f)
		}
		if i > 0 && !isSubset(subs[PaperFractions[i-1]], s) {
			t.Errorf("fraction %v does not contain fraction %v", f, PaperFractions[i-1])
		}
	}
	// The same set in another order, with duplicates, gives the same subsets.
	shuffled := append(slices.Clone(ids), ids[:100]...)
	slices.Reverse(shuffled)
	again, err := Subsets(shuffled, PaperFractions, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range PaperFractions {
		if !slices.Equal(again[f], subs[f]) {
			t.Errorf("fraction %v: another input order gives another subset", f)
		}
	}
	other, err := Subsets(ids, PaperFractions, 1)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(other[0.01], subs[0.01]) {
		t.Error("seeds 0 and 1 give the same 1% subset")
	}
	// A tiny set still gets one study per subset.
	tiny, err := Subsets(studyIDs(10), []float64{0.01, 0.5}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(tiny[0.01]) != 1 || len(tiny[0.5]) != 5 || !isSubset(tiny[0.01], tiny[0.5]) {
		t.Errorf("10 studies: subsets %v", tiny)
	}
	for _, bad := range [][]float64{{0}, {-0.1}, {1.5}, {math.NaN()}} {
		if _, err := Subsets(ids, bad, 0); err == nil || !strings.Contains(err.Error(), "fraction") {
			t.Errorf("fractions %v: error %v", bad, err)
		}
	}
	if _, err := Subsets(nil, PaperFractions, 0); err == nil {
		t.Error("no studies: no error")
	}
	if _, err := Subsets([]string{"a", ""}, PaperFractions, 0); err == nil {
		t.Error("an empty study id: no error")
	}
}

func TestSubsetsBothClasses(t *testing.T) {
	ids := studyIDs(300)
	labels := map[string]int{}
	for i, id := range ids {
		if i%50 == 7 { // 6 positives in 300
			labels[id] = 1
		} else {
			labels[id] = 0
		}
	}
	plain, err := Subsets(ids, PaperFractions, 0)
	if err != nil {
		t.Fatal(err)
	}
	both, err := SubsetsBothClasses(ids, labels, PaperFractions, 0)
	if err != nil {
		t.Fatal(err)
	}
	grew := 0
	for i, f := range PaperFractions {
		s := both[f]
		var pos int
		for _, id := range s {
			pos += labels[id]
		}
		if pos == 0 || pos == len(s) {
			t.Errorf("fraction %v: %d positives of %d studies", f, pos, len(s))
		}
		if !isSubset(plain[f], s) || len(s) > len(plain[f])+1 {
			t.Errorf("fraction %v: %d studies, Subsets gives %d: want those plus at most one", f, len(s), len(plain[f]))
		}
		if len(s) > len(plain[f]) {
			grew++
		}
		if i > 0 && !isSubset(both[PaperFractions[i-1]], s) {
			t.Errorf("fraction %v does not contain fraction %v", f, PaperFractions[i-1])
		}
	}
	if grew == 0 {
		t.Error("no subset needed a study added: the test does not test")
	}
	// One class in the whole set, or a missing label, is an error.
	for id := range labels {
		labels[id] = 0
	}
	if _, err := SubsetsBothClasses(ids, labels, PaperFractions, 0); err == nil {
		t.Error("one class: no error")
	}
	delete(labels, ids[3])
	if _, err := SubsetsBothClasses(ids, labels, PaperFractions, 0); err == nil || !strings.Contains(err.Error(), ids[3]) {
		t.Errorf("a study without a label: error %v", err)
	}
}

// manifestOf makes a manifest of videos "study/v" with the given studies'
// labels and videos per study.
func manifestOf(studies map[string][2]int) *video.Manifest {
	m := &video.Manifest{}
	names := make([]string, 0, len(studies))
	for s := range studies {
		names = append(names, s)
	}
	slices.Sort(names)
	for _, s := range names {
		lv := studies[s]
		for v := 0; v < lv[1]; v++ {
			m.Records = append(m.Records, video.Record{Path: fmt.Sprintf("%s/%d.avi", s, v), Study: s, Label: lv[0], File: "m.csv", Row: len(m.Records) + 2})
		}
	}
	return m
}

func TestPosWeightAndSelection(t *testing.T) {
	m := manifestOf(map[string][2]int{"a": {1, 2}, "b": {0, 3}, "c": {0, 4}, "d": {1, 1}, "e": {0, 2}})
	pw, err := PosWeight(m)
	if err != nil {
		t.Fatal(err)
	}
	if pw != 3 { // 9 negative videos, 3 positive
		t.Errorf("pos_weight %v, want 3", pw)
	}
	sub, err := SelectStudies(m, []string{"b", "d"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Records) != 4 {
		t.Errorf("studies b and d: %d videos, want 4", len(sub.Records))
	}
	if pw, err := PosWeight(sub); err != nil || pw != 3 {
		t.Errorf("b and d: pos_weight %v, %v, want 3", pw, err)
	}
	one, _ := SelectStudies(m, []string{"b", "c"})
	if _, err := PosWeight(one); err == nil || !strings.Contains(err.Error(), "0 positive") {
		t.Errorf("no positives: error %v", err)
	}
	if _, err := SelectStudies(m, []string{"b", "zz"}); err == nil || !strings.Contains(err.Error(), `"zz"`) {
		t.Errorf("unknown study: error %v", err)
	}
	labels, err := StudyLabels(m)
	if err != nil {
		t.Fatal(err)
	}
	if labels["a"] != 1 || labels["b"] != 0 || len(labels) != 5 {
		t.Errorf("study labels %v", labels)
	}
	m.Records[0].Label = 0 // study a now disagrees with itself
	if _, err := StudyLabels(m); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("a study with both labels: error %v", err)
	}
	m.Records[0].Label = -1
	if _, err := PosWeight(m); err == nil || !strings.Contains(err.Error(), "m.csv row 2") {
		t.Errorf("an unlabelled video: error %v", err)
	}
}
