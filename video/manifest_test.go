package video

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// writeFiles creates dir/name with content for every entry.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadManifestOurColumns(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(dir, "elsewhere", "z.avi")
	writeFiles(t, dir, map[string]string{
		"v/a.avi": "", "v/b.avi": "", "elsewhere/z.avi": "",
		"m.csv": "\ufeffpath,patient_id,study_id,label,split,notes\n" +
			"v/a.avi,P1,S1,1,train,\n" +
			"\"v/b.avi\", P1 ,S2,0,val,\"two\nlines\"\n" +
			abs + ",P2,S3,0,test,x\n",
	})
	m, err := ReadManifest(filepath.Join(dir, "m.csv"), OurColumns)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{Path: filepath.Join(dir, "v/a.avi"), Study: "S1", Patient: "P1", Label: 1, Split: "train", Row: 2},
		{Path: filepath.Join(dir, "v/b.avi"), Study: "S2", Patient: "P1", Label: 0, Split: "val", Row: 3},
		{Path: abs, Study: "S3", Patient: "P2", Label: 0, Split: "test", Row: 5},
	}
	if len(m.Records) != len(want) {
		t.Fatalf("%d records, want %d", len(m.Records), len(want))
	}
	for i, r := range m.Records {
		want[i].File = filepath.Join(dir, "m.csv")
		if r != want[i] {
			t.Errorf("record %d = %+v, want %+v", i, r, want[i])
		}
	}
	if s := m.Subset(SplitVal); len(s.Records) != 1 || s.Records[0].Study != "S2" {
		t.Errorf("Subset(val) = %+v", s.Records)
	}
	items := m.Items()
	if len(items) != 3 || items[0].Paths[0] != want[0].Path || items[0].Label != 1 || items[0].Group != "S1" {
		t.Errorf("Items = %+v", items)
	}
}

func TestReadManifestReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.avi": "", "b.avi": "", "c.avi": "", "d.avi": "",
		"m.csv": "path,patient_id,study_id,label,split\n" +
			"a.avi,P1,S1,1,train\n" + // row 2: fine
			"missing.avi,P1,S1,0,train\n" + // row 3: missing file
			"b.avi,P2,S2,yes,val\n" + // row 4: bad label
			"c.avi,P3,,0,test\n" + // row 5: empty study id
			"a.avi,P1,S1,1,train\n" + // row 6: duplicate of row 2
			"d.avi,P4,S4,1,tarin\n" + // row 7: unknown split
			"d.avi,P4\n" + // row 8: too few fields
			",P5,S5,0,test\n" + // row 9: empty path
			"e.avi,,S6,2,\n", // row 10: missing file, empty patient, bad label, unknown split
	})
	_, err := ReadManifest(filepath.Join(dir, "m.csv"), OurColumns)
	var me *ManifestError
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T), want a *ManifestError", err, err)
	}
	type key struct {
		row int
		col string
	}
	var got []key
	for _, p := range me.Problems {
		got = append(got, key{p.Row, p.Column})
		if p.File != filepath.Join(dir, "m.csv") {
			t.Errorf("problem %v names file %q", p, p.File)
		}
	}
	want := []key{
		{3, "path"}, {4, "label"}, {5, "study_id"}, {6, "path"}, {7, "split"}, {8, ""}, {9, "path"},
		{10, "patient_id"}, {10, "label"}, {10, "split"}, {10, "path"},
		{2, "label"}, // study S1: rows 2 and 3 disagree
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems at %v,\nwant %v\n%v", got, want, err)
	}
	msg := err.Error()
	for _, s := range []string{"12 problems", `row 2 (label): study "S1" has videos with different labels: 1 (row 2), 0 (row 3)`, "row 3 (path): missing file", `row 4 (label): bad label "yes"`, "row 5 (study_id): empty study id",
		"row 6 (path): duplicate path", "first at row 2", `row 7 (split): unknown split "tarin"`, "row 8: 2 fields, header has 5", "row 9 (path): empty path"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error message lacks %q:\n%s", s, msg)
		}
	}
}

func TestManifestHeaderProblems(t *testing.T) {
	_, err := ParseManifest(strings.NewReader("path,study,study\nx,1,2\n"), "h.csv", OurColumns)
	var me *ManifestError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want a *ManifestError", err)
	}
	for _, p := range me.Problems {
		if p.Row != 1 || p.File != "h.csv" {
			t.Errorf("header problem %v not at h.csv row 1", p)
		}
	}
	// study appears twice; patient_id, study_id, label, split are missing.
	if len(me.Problems) != 5 {
		t.Errorf("%d problems, want 5:\n%v", len(me.Problems), err)
	}
	if _, err := ParseManifest(strings.NewReader(""), "e.csv", OurColumns); err == nil || !strings.Contains(err.Error(), "e.csv") {
		t.Errorf("empty CSV: error %v", err)
	}
	if _, err := ParseManifest(strings.NewReader("path\n\"a\"b\n"), "q.csv", Columns{Path: "path"}); err == nil || !strings.Contains(err.Error(), "q.csv row 2") {
		t.Errorf("bad quoting: error %v", err)
	}
	if _, err := ParseManifest(strings.NewReader("path\na\n"), "c.csv", Columns{}); err == nil {
		t.Error("no path column configured: no error")
	}
	if _, err := ParseManifest(strings.NewReader("path,l\na,1\n"), "c.csv", Columns{Path: "path", Label: "l", PositiveValue: "1", Positive: func(string) (bool, error) { return true, nil }}); err == nil {
		t.Error("both Positive and PositiveValue: no error")
	}
}

func TestManifestLabels(t *testing.T) {
	csv := "p,grade\na,3\nb,1\nc,x\nd,2\n"
	cols := Columns{Path: "p", Label: "grade", Positive: func(v string) (bool, error) {
		g, err := strconv.Atoi(v)
		if err != nil {
			return false, err
		}
		return g >= 2, nil
	}}
	_, err := ParseManifest(strings.NewReader(csv), "g.csv", cols)
	var me *ManifestError
	if !errors.As(err, &me) || len(me.Problems) != 1 || me.Problems[0].Row != 4 {
		t.Fatalf("error %v, want one problem at row 4", err)
	}
	m, err := ParseManifest(strings.NewReader("p,grade\na,3\nb,1\nd,2\n"), "g.csv", cols)
	if err != nil {
		t.Fatal(err)
	}
	var labels []int
	for _, r := range m.Records {
		labels = append(labels, r.Label)
	}
	if !slices.Equal(labels, []int{1, 0, 1}) {
		t.Errorf("labels %v, want [1 0 1]", labels)
	}
	m, err = ParseManifest(strings.NewReader("p\na\n"), "n.csv", Columns{Path: "p"})
	if err != nil || m.Records[0].Label != -1 || m.Records[0].Path != "a" {
		t.Errorf("no label column: %+v, %v", m, err)
	}
}

func TestReadSplitDirPaper(t *testing.T) {
	dir := filepath.Join("testdata", "pipeline", "paper")
	m, err := ReadSplitDir(dir, PaperColumns)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range m.Records {
		got = append(got, fmt.Sprintf("%s %s %d %s %d", filepath.Base(r.Path), r.Study, r.Label, r.Split, r.Row))
		if want := filepath.Join(dir, "videos", filepath.Base(r.Path)); r.Path != want {
			t.Errorf("path %s, want %s", r.Path, want)
		}
	}
	want := []string{
		"a1.dat A 1 train 2", "a2.dat A 1 train 3", "b1.dat B 0 train 4", "c1.dat C 0 train 5",
		"f1.dat F 0 val 2", "f2.dat F 0 val 3",
		"d1.dat D 1 test 2", "e1.dat E 0 test 3",
	}
	if !slices.Equal(got, want) {
		t.Errorf("records\n%v\nwant\n%v", got, want)
	}
	if s := m.Studies(); !slices.Equal(s, []string{"A", "B", "C", "D", "E", "F"}) {
		t.Errorf("studies %v", s)
	}
}

func TestReadSplitDirProblems(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"videos/a.avi": "", "videos/b.avi": "",
		"train.csv": "fpath,acc_num,av_stenosis\na.avi,A,Severe\nb.avi,,None\n",
		"val.csv":   "fpath,acc_num,av_stenosis\na.avi,A,Severe\n",
		// no test.csv
		"ext_test.csv": "fpath,acc_num\nb.avi,B\n",
	})
	_, err := ReadSplitDir(dir, PaperColumns)
	var me *ManifestError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want a *ManifestError", err)
	}
	msg := err.Error()
	for _, s := range []string{
		"train.csv row 3 (acc_num): empty study id",
		"val.csv row 2 (fpath): duplicate path",
		"first at " + filepath.Join(dir, "train.csv") + " row 2",
		"test.csv: open",
		"ext_test.csv row 1 (av_stenosis): no such column",
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %q:\n%s", s, msg)
		}
	}
	if len(me.Problems) != 4 {
		t.Errorf("%d problems, want 4:\n%s", len(me.Problems), msg)
	}
}

func TestSplitByStudy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var m Manifest
	for s := 0; s < 200; s++ {
		for v := 0; v <= rng.IntN(4); v++ {
			m.Records = append(m.Records, Record{Path: fmt.Sprintf("s%d/v%d.avi", s, v), Study: fmt.Sprintf("S%03d", s)})
		}
	}
	if err := m.SplitByStudy(42, PaperSplit); err != nil {
		t.Fatal(err)
	}
	studySplit := map[string]string{}
	count := map[string]int{}
	for _, r := range m.Records {
		if s, ok := studySplit[r.Study]; ok && s != r.Split {
			t.Fatalf("study %s in %s and %s", r.Study, s, r.Split)
		}
		if _, ok := studySplit[r.Study]; !ok {
			count[r.Split]++
		}
		studySplit[r.Study] = r.Split
	}
	if count[SplitTrain] != 150 || count[SplitVal] != 20 || count[SplitTest] != 30 {
		t.Errorf("studies per split %v, want train 150, val 20, test 30", count)
	}
	// The same seed on shuffled records gives the same split per study.
	shuffled := Manifest{Records: slices.Clone(m.Records)}
	rng.Shuffle(len(shuffled.Records), func(i, j int) {
		shuffled.Records[i], shuffled.Records[j] = shuffled.Records[j], shuffled.Records[i]
	})
	if err := shuffled.SplitByStudy(42, PaperSplit); err != nil {
		t.Fatal(err)
	}
	for _, r := range shuffled.Records {
		if studySplit[r.Study] != r.Split {
			t.Fatalf("record order changed study %s from %s to %s", r.Study, studySplit[r.Study], r.Split)
		}
	}
	other := Manifest{Records: slices.Clone(m.Records)}
	other.SplitByStudy(43, PaperSplit)
	differ := 0
	for _, r := range other.Records {
		if studySplit[r.Study] != r.Split {
			differ++
		}
	}
	if differ == 0 {
		t.Error("seeds 42 and 43 give the same split")
	}
	for _, f := range [][3]float64{{0.5, 0.5, 0.5}, {-0.1, 0.6, 0.5}} {
		if err := m.SplitByStudy(1, f); err == nil {
			t.Errorf("fractions %v: no error", f)
		}
	}
	// Without study ids every video is its own study.
	solo := Manifest{Records: []Record{{Path: "a"}, {Path: "b"}, {Path: "c"}, {Path: "d"}}}
	if err := solo.SplitByStudy(0, [3]float64{0.5, 0.25, 0.25}); err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, r := range solo.Records {
		n[r.Split]++
	}
	if n[SplitTrain] != 2 || n[SplitVal] != 1 || n[SplitTest] != 1 {
		t.Errorf("videos per split %v", n)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add("path,patient_id,study_id,label,split\na,P,S,1,train\n")
	f.Add("path,patient_id,study_id,label,split\na,P,S,1,train\na,P,S,1,train\n\"x\ny\",,,2,z\n")
	f.Add("\ufeffpath\n\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseManifest(strings.NewReader(s), "f.csv", OurColumns)
		if err != nil {
			var me *ManifestError
			if !errors.As(err, &me) || len(me.Problems) == 0 {
				t.Fatalf("error %v is not a *ManifestError with problems", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range m.Records {
			if r.Path == "" || r.Study == "" || r.Patient == "" || (r.Label != 0 && r.Label != 1) || seen[r.Path] {
				t.Fatalf("accepted bad record %+v", r)
			}
			seen[r.Path] = true
		}
	})
}

// TestManifestChecksAcrossRows reads a manifest with eight faults, four of
// them visible only across rows (a study in two splits, a study with two
// labels, a study with two patients, an empty required split), and checks
// that one error lists them all with their rows, and that a patient whose
// studies are in different splits is a warning, or an error when asked.
func TestManifestChecksAcrossRows(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.avi": "", "b.avi": "", "c.avi": "", "d.avi": "", "e.avi": "", "f.avi": "", "g.avi": "", "h.avi": "", "i.avi": "",
		"m.csv": "path,patient_id,study_id,label,split\n" +
			"a.avi,P1,S1,1,train\n" + // row 2
			"b.avi,P1,S1,1,test\n" + // row 3: study S1 in train and test
			"c.avi,P2,S2,0,train\n" + // row 4
			"d.avi,P2,S3,1,val\n" + // row 5: patient P2 in train and val (warning)
			"e.avi,P3,S4,1,train\n" + // row 6
			"f.avi,P3,S4,0,train\n" + // row 7: study S4 labelled 1 and 0
			"g.avi,P4,S5,0,train\n" + // row 8
			"h.avi,P5,S5,0,train\n" + // row 9: study S5 of patients P4 and P5
			"i.avi,P6,S6,x,train\n" + // row 10: bad label
			"missing.avi,P7,S7,0,train\n" + // row 11: missing file
			"a.avi,P1,S1,1,train\n" + // row 12: duplicate path
			"i.avi,P8,S8,0,validation\n", // row 13: unknown split (and a duplicate path)
	})
	path := filepath.Join(dir, "m.csv")
	cols := OurColumns
	cols.Check.RequireSplits = []string{SplitTrain, SplitVal, SplitTest, SplitExtTest}
	_, err := ReadManifest(path, cols)
	var me *ManifestError
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T), want a *ManifestError", err, err)
	}
	msg := err.Error()
	for _, s := range []string{
		`row 2 (split): study "S1" is in more than one split: train (row 2), test (row 3)`,
		`row 6 (label): study "S4" has videos with different labels: 1 (row 6), 0 (row 7)`,
		`row 8 (patient_id): study "S5" belongs to more than one patient: P4 (row 8), P5 (row 9)`,
		`(split): split "ext_test" has no records`,
		`row 10 (label): bad label "x"`,
		`row 11 (path): missing file`,
		`row 12 (path): duplicate path`,
		`row 13 (split): unknown split "validation"`,
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %q:\n%s", s, msg)
		}
	}
	if strings.Contains(msg, `patient "P2"`) {
		t.Errorf("a patient across splits is an error by default:\n%s", msg)
	}

	// Without the row faults, the patient is a warning.
	good := "path,patient_id,study_id,label,split\n" +
		"a.avi,P1,S1,1,train\nb.avi,P1,S1,1,train\nc.avi,P2,S2,0,train\nd.avi,P2,S3,1,val\ne.avi,P3,S4,1,test\n"
	m, err := ParseManifest(strings.NewReader(good), "good.csv", OurColumns)
	if err != nil {
		t.Fatal(err)
	}
	want := `good.csv row 4 (patient_id): patient "P2" has studies in more than one split: train (row 4), val (row 5)`
	if len(m.Warnings) != 1 || !strings.HasPrefix(m.Warnings[0].String(), want) {
		t.Errorf("warnings %v, want one: %s", m.Warnings, want)
	}
	strict := OurColumns
	strict.Check.PatientSplitsAreErrors = true
	if _, err := ParseManifest(strings.NewReader(good), "good.csv", strict); err == nil || !strings.Contains(err.Error(), `patient "P2"`) {
		t.Errorf("PatientSplitsAreErrors: error %v, want one naming P2", err)
	}
	// Check runs again after the splits change.
	m.Records[1].Split = SplitTest
	if _, err := m.Check(CheckOptions{}); err == nil || !strings.Contains(err.Error(), `good.csv row 2: study "S1" is in more than one split: train (row 2), test (row 3)`) {
		t.Errorf("Check after moving a video of S1 to test: error %v", err)
	}
	if err := m.SplitByStudy(1, PaperSplit); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Check(CheckOptions{}); err != nil {
		t.Errorf("Check after SplitByStudy: %v", err)
	}
}

// TestReadSplitDirStudyInTwoFiles checks the study-leak check across the
// paper's per-split files.
func TestReadSplitDirStudyInTwoFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"videos/a.avi": "", "videos/b.avi": "", "videos/c.avi": "",
		"train.csv": "fpath,acc_num,av_stenosis\na.avi,S1,Severe\nc.avi,S2,None\n",
		"val.csv":   "fpath,acc_num,av_stenosis\n",
		"test.csv":  "fpath,acc_num,av_stenosis\nb.avi,S1,Severe\n",
	})
	cols := PaperColumns
	cols.Check.RequireSplits = []string{SplitTrain, SplitVal, SplitTest}
	_, err := ReadSplitDir(dir, cols)
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{
		filepath.Join(dir, "train.csv") + ` row 2: study "S1" is in more than one split: train (row 2), test (` + filepath.Join(dir, "test.csv") + ` row 2)`,
		`split "val" has no records`,
	} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q:\n%v", s, err)
		}
	}
}

// TestUnlabelledSplit: the unlabelled split is a split of its own, in a
// split column and as unlabelled.csv; its labels may be empty (Label -1),
// while an empty label elsewhere is still an error.
func TestUnlabelledSplit(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.avi": "", "b.avi": "", "c.avi": "", "d.avi": "",
		"m.csv": "path,patient_id,study_id,label,split\n" +
			"a.avi,P1,S1,1,train\n" +
			"b.avi,P2,S2,,unlabelled\n" +
			"c.avi,P3,S3,0,unlabelled\n",
		"bad.csv": "path,patient_id,study_id,label,split\n" +
			"a.avi,P1,S1,,train\n",
		"videos/a.avi": "", "videos/b.avi": "",
		"train.csv":      "fpath,acc_num,av_stenosis\na.avi,A,Severe\n",
		"val.csv":        "fpath,acc_num,av_stenosis\n",
		"test.csv":       "fpath,acc_num,av_stenosis\n",
		"unlabelled.csv": "fpath,acc_num,av_stenosis\nb.avi,B,\n",
	})
	m, err := ReadManifest(filepath.Join(dir, "m.csv"), OurColumns)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range m.Records {
		got = append(got, fmt.Sprintf("%s %d", r.Split, r.Label))
	}
	if want := []string{"train 1", "unlabelled -1", "unlabelled 0"}; !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
	if _, err := ReadManifest(filepath.Join(dir, "bad.csv"), OurColumns); err == nil || !strings.Contains(err.Error(), "row 2 (label): bad label") {
		t.Errorf("empty label in train: error %v", err)
	}
	sd, err := ReadSplitDir(dir, PaperColumns)
	if err != nil {
		t.Fatal(err)
	}
	if u := sd.Subset(SplitUnlabelled); len(u.Records) != 1 || u.Records[0].Study != "B" || u.Records[0].Label != -1 {
		t.Errorf("unlabelled.csv: %+v", u.Records)
	}
}
