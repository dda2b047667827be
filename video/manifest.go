package video

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Split names, as they appear in a split column and in the file names of a
// split directory (train.csv, ...).
const (
	SplitTrain   = "train"
	SplitVal     = "val"
	SplitTest    = "test"
	SplitExtTest = "ext_test"
	// SplitUnlabelled holds videos for self-supervised pretraining only
	// (see pretrain.Config.Splits): their label may be empty (Label -1),
	// and fine-tuning and evaluation, which read train, val and test,
	// never see them.
	SplitUnlabelled = "unlabelled"
)

// PaperSplit is the paper's train, validation and test fractions of studies.
var PaperSplit = [3]float64{0.75, 0.10, 0.15}

// Columns maps the columns of a manifest CSV to what they mean. Path is
// required; an empty name means the CSV has no such column.
type Columns struct {
	// Path is the column of video file paths. Relative paths resolve against
	// the CSV's directory joined with Dir.
	Path string
	// Study and Patient are the columns of study (accession) and patient ids.
	Study, Patient string
	// Label is the column of labels: a record is positive (label 1) when
	// Positive says so, else when the value equals PositiveValue, else when
	// the value is "1" ("0" is negative and anything else is an error).
	Label string
	// Split is the column of split names (train, val, test, ext_test,
	// unlabelled).
	Split string
	// Positive, when not nil, decides whether a label value is positive; an
	// error marks the value as bad.
	Positive func(value string) (bool, error)
	// PositiveValue, when not empty and Positive is nil, is the one label
	// value that is positive; every other value is negative.
	PositiveValue string
	// Dir is the directory, relative to the CSV's directory (or absolute),
	// that relative video paths resolve against; empty means the CSV's
	// directory itself.
	Dir string
	// Check says which checks across records (see Manifest.Check) are
	// errors, beyond those that always are.
	Check CheckOptions
}

// PaperColumns reads the paper's CSVs: fpath, acc_num and av_stenosis
// (positive when "Severe"), with videos in a "videos" directory beside the
// CSV, as the public code lays them out. There is no patient or split column;
// the paper has one CSV per split (see ReadSplitDir).
var PaperColumns = Columns{Path: "fpath", Study: "acc_num", Label: "av_stenosis", PositiveValue: "Severe", Dir: "videos"}

// OurColumns reads vidssl's own manifests: path, patient_id, study_id, label
// (0 or 1; may be empty in the unlabelled split) and split (train, val,
// test, ext_test or unlabelled) in one CSV.
var OurColumns = Columns{Path: "path", Patient: "patient_id", Study: "study_id", Label: "label", Split: "split"}

// Record is one video of a manifest.
type Record struct {
	// Path is the video file path, resolved (see Columns.Path) and cleaned.
	Path string
	// Study and Patient are the ids; empty when the CSV has no such column.
	Study, Patient string
	// Label is 1 (positive), 0 (negative) or -1 (no label column, or an
	// empty label in the unlabelled split).
	Label int
	// Split is train, val, test, ext_test or unlabelled; empty when
	// unknown.
	Split string
	// File and Row are where the record came from: the CSV file and the line
	// on which the record starts (the header is row 1).
	File string
	Row  int
}

// Manifest is a list of videos with their ids, labels and splits.
type Manifest struct {
	Records []Record
	// Warnings are what reading found doubtful but did not refuse: a
	// patient whose studies fall in different splits (unless
	// Columns.Check.PatientSplitsAreErrors). Library code never prints
	// them; show them, or make them errors.
	Warnings []Problem
}

// Problem is one thing wrong with a manifest: a bad row, or a bad header (row
// 1) or file (row 0).
type Problem struct {
	File   string
	Row    int
	Column string // the column at fault; empty when it is the whole row
	Msg    string
}

// String returns "FILE row N (COLUMN): MSG".
func (p Problem) String() string {
	s := p.File
	if p.Row > 0 {
		s += fmt.Sprintf(" row %d", p.Row)
	}
	if p.Column != "" {
		s += fmt.Sprintf(" (%s)", p.Column)
	}
	return s + ": " + p.Msg
}

// ManifestError lists every problem found in a manifest: those of single
// rows in file and row order, then those across rows (see Manifest.Check).
// Its Error message names the first maxListedProblems of them.
type ManifestError struct {
	Problems []Problem
}

const maxListedProblems = 50

// Error lists the problems, one per line.
func (e *ManifestError) Error() string {
	var b strings.Builder
	n := len(e.Problems)
	fmt.Fprintf(&b, "video: manifest: %d problem", n)
	if n != 1 {
		b.WriteString("s")
	}
	for i, p := range e.Problems {
		if i == maxListedProblems {
			fmt.Fprintf(&b, "\n\t... and %d more", n-i)
			break
		}
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	return b.String()
}

// ReadManifest reads a manifest CSV file. Relative video paths resolve against
// the CSV's directory (see Columns.Dir), and every video file must exist. The
// records are then checked across rows (see Manifest.Check, with
// cols.Check). All problems found, in the rows and across them, are returned
// together as a *ManifestError; warnings are in the manifest's Warnings.
func ReadManifest(path string, cols Columns) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("video: manifest: %w", err)
	}
	defer f.Close()
	dir := filepath.Join(filepath.Dir(path), cols.Dir)
	if filepath.IsAbs(cols.Dir) {
		dir = cols.Dir
	}
	m := &Manifest{}
	var probs []Problem
	seen := map[string]Record{}
	if err := parseCSV(f, path, dir, "", cols, true, m, seen, &probs); err != nil {
		return nil, err
	}
	return m.finish(probs, cols, path)
}

// finish runs the checks across records after the rows were read, and
// returns every problem together.
func (m *Manifest) finish(probs []Problem, cols Columns, file string) (*Manifest, error) {
	warnings, cross := m.check(cols.Check, cols, file)
	probs = append(probs, cross...)
	if len(probs) > 0 {
		return nil, &ManifestError{Problems: probs}
	}
	m.Warnings = warnings
	return m, nil
}

// ParseManifest reads a manifest CSV from r, named name in errors. Relative
// video paths are joined to cols.Dir; files are not checked. The records are
// checked across rows as in ReadManifest. All problems found are returned
// together as a *ManifestError.
func ParseManifest(r io.Reader, name string, cols Columns) (*Manifest, error) {
	m := &Manifest{}
	var probs []Problem
	if err := parseCSV(r, name, cols.Dir, "", cols, false, m, map[string]Record{}, &probs); err != nil {
		return nil, err
	}
	return m.finish(probs, cols, name)
}

// ReadSplitDir reads a directory laid out as the paper's data: train.csv,
// val.csv and test.csv, and ext_test.csv and unlabelled.csv when present. Each record's split is
// the name of its file (cols.Split is ignored). Paths resolve and are checked
// as in ReadManifest, and a path may appear only once across the files; the
// records are checked across rows (and files) as in ReadManifest. All
// problems found in all files are returned together as a *ManifestError.
func ReadSplitDir(dir string, cols Columns) (*Manifest, error) {
	m := &Manifest{}
	var probs []Problem
	seen := map[string]Record{}
	cols.Split = ""
	for _, split := range []string{SplitTrain, SplitVal, SplitTest, SplitExtTest, SplitUnlabelled} {
		path := filepath.Join(dir, split+".csv")
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) && (split == SplitExtTest || split == SplitUnlabelled) {
			continue
		}
		if err != nil {
			probs = append(probs, Problem{File: path, Msg: err.Error()})
			continue
		}
		vdir := filepath.Join(dir, cols.Dir)
		if filepath.IsAbs(cols.Dir) {
			vdir = cols.Dir
		}
		err = parseCSV(f, path, vdir, split, cols, true, m, seen, &probs)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return m.finish(probs, cols, dir)
}

// parseCSV appends the records of one CSV to m and its problems to probs.
// split, when not empty, is every record's split. seen maps resolved paths to
// their first record, across files. It returns an error only for a bad
// configuration.
func parseCSV(r io.Reader, name, dir, split string, cols Columns, checkFiles bool, m *Manifest, seen map[string]Record, probs *[]Problem) error {
	if cols.Path == "" {
		return fmt.Errorf("video: manifest %s: no path column configured", name)
	}
	if cols.Positive != nil && cols.PositiveValue != "" {
		return fmt.Errorf("video: manifest %s: both Positive and PositiveValue set", name)
	}
	bad := func(row int, col, format string, args ...any) {
		*probs = append(*probs, Problem{File: name, Row: row, Column: col, Msg: fmt.Sprintf(format, args...)})
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		bad(1, "", "empty file, want a header row")
		return nil
	}
	if err != nil {
		bad(1, "", "%v", err)
		return nil
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a spreadsheet's byte-order mark
	}
	index := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if _, dup := index[h]; dup {
			bad(1, h, "column appears twice")
			continue
		}
		index[h] = i
	}
	col := func(name string) int {
		if name == "" {
			return -1
		}
		i, ok := index[name]
		if !ok {
			bad(1, name, "no such column (have %s)", strings.Join(header, ", "))
			return -2
		}
		return i
	}
	iPath, iStudy, iPatient, iLabel, iSplit := col(cols.Path), col(cols.Study), col(cols.Patient), col(cols.Label), col(cols.Split)
	if iPath == -2 || iStudy == -2 || iPatient == -2 || iLabel == -2 || iSplit == -2 {
		return nil
	}
	for {
		fields, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad(pe.StartLine, "", "%v (rows after it not read)", pe.Err)
			} else {
				bad(0, "", "%v", err)
			}
			return nil
		}
		row, _ := cr.FieldPos(0)
		if len(fields) != len(header) {
			bad(row, "", "%d fields, header has %d", len(fields), len(header))
			continue
		}
		get := func(i int) string {
			if i < 0 {
				return ""
			}
			return strings.TrimSpace(fields[i])
		}
		rec := Record{Study: get(iStudy), Patient: get(iPatient), Label: -1, Split: split, File: name, Row: row}
		if iStudy >= 0 && rec.Study == "" {
			bad(row, cols.Study, "empty study id")
		}
		if iPatient >= 0 && rec.Patient == "" {
			bad(row, cols.Patient, "empty patient id")
		}
		if iSplit >= 0 {
			rec.Split = get(iSplit) // checked below, after the label
		}
		if iLabel >= 0 {
			v := get(iLabel)
			pos, err := isPositive(cols, v)
			switch {
			case v == "" && rec.Split == SplitUnlabelled:
			case err != nil:
				bad(row, cols.Label, "bad label %q: %v", v, err)
			case pos:
				rec.Label = 1
			default:
				rec.Label = 0
			}
		}
		if iSplit >= 0 {
			switch rec.Split {
			case SplitTrain, SplitVal, SplitTest, SplitExtTest, SplitUnlabelled:
			default:
				bad(row, cols.Split, "unknown split %q, want train, val, test, ext_test or unlabelled", rec.Split)
			}
		}
		p := get(iPath)
		if p == "" {
			bad(row, cols.Path, "empty path")
			continue
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		rec.Path = filepath.Clean(p)
		if first, dup := seen[rec.Path]; dup {
			where := fmt.Sprintf("row %d", first.Row)
			if first.File != name {
				where = first.File + " " + where
			}
			bad(row, cols.Path, "duplicate path %s (first at %s)", rec.Path, where)
			continue
		}
		seen[rec.Path] = rec
		if checkFiles {
			if fi, err := os.Stat(rec.Path); err != nil {
				bad(row, cols.Path, "missing file: %v", err)
			} else if !fi.Mode().IsRegular() {
				bad(row, cols.Path, "%s is not a regular file", rec.Path)
			}
		}
		m.Records = append(m.Records, rec)
	}
}

func isPositive(cols Columns, v string) (bool, error) {
	switch {
	case cols.Positive != nil:
		return cols.Positive(v)
	case cols.PositiveValue != "":
		return v == cols.PositiveValue, nil
	}
	switch v {
	case "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, errors.New(`want 0 or 1`)
}

// Subset returns the records of one split, in manifest order.
func (m *Manifest) Subset(split string) *Manifest {
	s := &Manifest{}
	for _, r := range m.Records {
		if r.Split == split {
			s.Records = append(s.Records, r)
		}
	}
	return s
}

// Studies returns the distinct study ids, sorted. A record without a study id
// is its own study, named by its path.
func (m *Manifest) Studies() []string {
	set := map[string]bool{}
	for _, r := range m.Records {
		set[studyKey(r)] = true
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func studyKey(r Record) string {
	if r.Study == "" {
		return r.Path
	}
	return r.Study
}

// SplitByStudy sets every record's split (overwriting any it had) so that all
// videos of a study land in one split: the sorted study ids (see Studies) are
// shuffled by seed and the first round(fractions[0]*n) go to train, the next
// round(fractions[1]*n) to val and the rest to test. The result depends only
// on the seed and the set of studies, not on the order of the records.
// fractions must be non-negative and sum to 1; PaperSplit is the paper's.
func (m *Manifest) SplitByStudy(seed uint64, fractions [3]float64) error {
	sum := 0.0
	for _, f := range fractions {
		if f < 0 || math.IsNaN(f) {
			return fmt.Errorf("video: split by study: fractions %v: negative or NaN", fractions)
		}
		sum += f
	}
	if math.Abs(sum-1) > 1e-9 {
		return fmt.Errorf("video: split by study: fractions %v sum to %g, want 1", fractions, sum)
	}
	ids := m.Studies()
	rng := rand.New(rand.NewPCG(seed, 0x5eed5917))
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	n := len(ids)
	nTrain := min(n, int(math.Round(fractions[0]*float64(n))))
	nVal := min(n-nTrain, int(math.Round(fractions[1]*float64(n))))
	split := make(map[string]string, n)
	for i, id := range ids {
		switch {
		case i < nTrain:
			split[id] = SplitTrain
		case i < nTrain+nVal:
			split[id] = SplitVal
		default:
			split[id] = SplitTest
		}
	}
	for i := range m.Records {
		m.Records[i].Split = split[studyKey(m.Records[i])]
	}
	return nil
}

// Items returns one loader item per record: the video path, its label and its
// study as the group.
func (m *Manifest) Items() []Item {
	items := make([]Item, len(m.Records))
	for i, r := range m.Records {
		items[i] = Item{Paths: []string{r.Path}, ID: r.Path, Label: r.Label, Group: studyKey(r)}
	}
	return items
}

// CheckOptions choose which checks across the records of a manifest are
// errors, beyond those that always are (see Manifest.Check).
type CheckOptions struct {
	// RequireSplits are splits that must hold at least one record (for
	// example train, val and test before fine-tuning).
	RequireSplits []string
	// PatientSplitsAreErrors makes a patient whose studies fall in
	// different splits an error; otherwise it is a warning. The paper split
	// by study and allowed it; splitting by patient is stricter.
	PatientSplitsAreErrors bool
}

// Check finds the problems that no single row shows, and returns them all:
//
//   - a study in more than one split (its videos would train the model and
//     test it): always an error naming the study and its rows;
//   - a study whose videos have different labels, or different patients:
//     always an error;
//   - a required split (opt.RequireSplits) without records: an error;
//   - a patient whose different studies fall in different splits: a
//     warning, or an error with opt.PatientSplitsAreErrors.
//
// err is a *ManifestError listing every error; warnings are returned, not
// printed. Reading a manifest runs Check with Columns.Check; run it again
// after changing splits (SplitByStudy).
func (m *Manifest) Check(opt CheckOptions) (warnings []Problem, err error) {
	file := ""
	if len(m.Records) > 0 {
		file = m.Records[0].File
	}
	warnings, probs := m.check(opt, Columns{}, file)
	if len(probs) > 0 {
		return warnings, &ManifestError{Problems: probs}
	}
	return warnings, nil
}

// check is Check; cols names the columns in problems (when known), and file
// the manifest in a problem that has no row.
func (m *Manifest) check(opt CheckOptions, cols Columns, file string) (warnings, probs []Problem) {
	// Records by study and by patient, in manifest order.
	byStudy := map[string][]Record{}
	byPatient := map[string][]Record{}
	var studies, patients []string
	splits := map[string]bool{}
	for _, r := range m.Records {
		splits[r.Split] = true
		if r.Study != "" {
			if _, ok := byStudy[r.Study]; !ok {
				studies = append(studies, r.Study)
			}
			byStudy[r.Study] = append(byStudy[r.Study], r)
		}
		if r.Patient != "" {
			if _, ok := byPatient[r.Patient]; !ok {
				patients = append(patients, r.Patient)
			}
			byPatient[r.Patient] = append(byPatient[r.Patient], r)
		}
	}
	for _, id := range studies {
		recs := byStudy[id]
		if p := differ(recs, func(r Record) string { return r.Split }); p != "" {
			probs = append(probs, Problem{File: recs[0].File, Row: recs[0].Row, Column: cols.Split,
				Msg: fmt.Sprintf("study %q is in more than one split: %s; a study's videos must all be in one split, or test data trains the model", id, p)})
		}
		if recs[0].Label >= 0 {
			if p := differ(recs, func(r Record) string { return fmt.Sprint(r.Label) }); p != "" {
				probs = append(probs, Problem{File: recs[0].File, Row: recs[0].Row, Column: cols.Label,
					Msg: fmt.Sprintf("study %q has videos with different labels: %s", id, p)})
			}
		}
		if p := differ(recs, func(r Record) string { return r.Patient }); p != "" {
			probs = append(probs, Problem{File: recs[0].File, Row: recs[0].Row, Column: cols.Patient,
				Msg: fmt.Sprintf("study %q belongs to more than one patient: %s", id, p)})
		}
	}
	for _, id := range patients {
		recs := byPatient[id]
		// Studies in two splits are reported above; here, one record per
		// study, so that a patient is flagged for different studies only.
		var first []Record
		seen := map[string]bool{}
		for _, r := range recs {
			if k := studyKey(r); !seen[k] {
				seen[k] = true
				first = append(first, r)
			}
		}
		if len(first) < 2 {
			continue
		}
		if p := differ(first, func(r Record) string { return r.Split }); p != "" {
			pr := Problem{File: recs[0].File, Row: recs[0].Row, Column: cols.Patient,
				Msg: fmt.Sprintf("patient %q has studies in more than one split: %s (first rows of each study)", id, p)}
			if opt.PatientSplitsAreErrors {
				probs = append(probs, pr)
			} else {
				warnings = append(warnings, pr)
			}
		}
	}
	for _, sp := range opt.RequireSplits {
		if !splits[sp] {
			probs = append(probs, Problem{File: file, Column: cols.Split, Msg: fmt.Sprintf("split %q has no records (%d records in all)", sp, len(m.Records))})
		}
	}
	return warnings, probs
}

// differ returns "" when key is the same for every record, and otherwise
// each value with the rows that have it: `train (row 2, row 3), test (row
// 7)`, naming the file of a row when it is not the first record's.
func differ(recs []Record, key func(Record) string) string {
	var values []string
	rows := map[string][]string{}
	for _, r := range recs {
		k := key(r)
		if _, ok := rows[k]; !ok {
			values = append(values, k)
		}
		where := fmt.Sprintf("row %d", r.Row)
		if r.File != recs[0].File {
			where = r.File + " " + where
		}
		rows[k] = append(rows[k], where)
	}
	if len(values) < 2 {
		return ""
	}
	parts := make([]string, len(values))
	for i, v := range values {
		list := rows[v]
		if len(list) > 5 {
			list = append(list[:5:5], fmt.Sprintf("and %d more", len(rows[v])-5))
		}
		name := v
		if name == "" {
			name = `""`
		}
		parts[i] = fmt.Sprintf("%s (%s)", name, strings.Join(list, ", "))
	}
	return strings.Join(parts, ", ")
}
