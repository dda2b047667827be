package video

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// DICOMScanOptions selects the files ScanDICOM keeps. The zero value keeps
// ultrasound (modality US) loops of at least 2 frames, on GOMAXPROCS
// goroutines.
type DICOMScanOptions struct {
	// Modalities are the Modality (0008,0060) values kept; nil means US.
	Modalities []string
	// MinFrames is the least number of frames kept; 0 means 2, which keeps
	// cine loops and skips single images.
	MinFrames int
	// Views, when not empty, keeps only files whose view (View Name
	// (0008,2127), else the Code Meaning of the View Code Sequence
	// (0054,0220)) is one of them, ignoring case; files with no view are
	// skipped.
	Views []string
	// Workers is how many files are read at once; 0 means GOMAXPROCS.
	Workers int
	// Progress, when not nil, is called after each file with the number of
	// files done and the total, from one goroutine at a time.
	Progress func(done, total int)
}

// DICOMEntry is a cine loop that ScanDICOM keeps: a file that decodes, and
// what the manifest says of it.
type DICOMEntry struct {
	Path           string // as found under the root
	Study          string // StudyInstanceUID (0020,000D)
	Patient        string // PatientID (0010,0020)
	Modality       string
	View           string // empty when not tagged
	Frames         int
	FPS            float64
	Width, Height  int
	Channels       int
	TransferSyntax string // UID
}

// DICOMSkip is a file that ScanDICOM did not keep, and why.
type DICOMSkip struct {
	Path, Reason string
}

// ScanDICOM walks the folder tree under root and reads every regular file
// as DICOM (a DICOMDIR is not needed, and is itself skipped), in parallel.
// It keeps the cine loops that opts selects and that decode (every file
// kept has been read with ReadDICOM, so a loader will read it too), and
// reports every other file with the reason: not DICOM, damaged, an
// unsupported encoding, no pixel data (a structured report, say), another
// modality, too few frames, another view. Entries and skips are sorted by
// path. Cancelling ctx stops the scan with ctx's error.
func ScanDICOM(ctx context.Context, root string, opts DICOMScanOptions) ([]DICOMEntry, []DICOMSkip, error) {
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, nil, fmt.Errorf("video: scan %s: %w", root, err)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	type result struct {
		entry *DICOMEntry
		skip  *DICOMSkip
	}
	results := make([]result, len(paths))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range workers {
		wg.Go(func() {
			for i := range next {
				e, reason := scanDICOMFile(paths[i], opts)
				if reason != "" {
					results[i].skip = &DICOMSkip{Path: paths[i], Reason: reason}
				} else {
					results[i].entry = e
				}
				mu.Lock()
				done++
				if opts.Progress != nil {
					opts.Progress(done, len(paths))
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i := range paths {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("video: scan %s: %w", root, err)
	}
	var entries []DICOMEntry
	var skips []DICOMSkip
	for _, r := range results {
		if r.entry != nil {
			entries = append(entries, *r.entry)
		} else {
			skips = append(skips, *r.skip)
		}
	}
	return entries, skips, nil
}

// dicomDirClass is the Media Storage Directory SOP class (a DICOMDIR).
const dicomDirClass = "1.2.840.10008.1.3.10"

// scanDICOMFile reads one file; a non-empty reason says why it is skipped.
func scanDICOMFile(path string, opts DICOMScanOptions) (*DICOMEntry, string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err.Error()
	}
	ds, px, err := readDICOMHeader(data)
	if err != nil {
		return nil, err.Error()
	}
	str := func(t tag.Tag) string {
		s, _, isInt, ok, err := dcmValue(&ds, t)
		if err != nil || !ok || isInt {
			return ""
		}
		return s
	}
	if str(tag.MediaStorageSOPClassUID) == dicomDirClass {
		return nil, "a DICOMDIR (directory index)"
	}
	e := &DICOMEntry{Path: path, Study: str(tag.StudyInstanceUID), Patient: str(tag.PatientID),
		Modality: str(tag.Modality), View: dicomView(&ds), TransferSyntax: px.ts}
	modalities := opts.Modalities
	if modalities == nil {
		modalities = []string{"US"}
	}
	minFrames := opts.MinFrames
	if minFrames <= 0 {
		minFrames = 2
	}
	if !slices.Contains(modalities, e.Modality) {
		return nil, fmt.Sprintf("modality %q (want %s)", e.Modality, strings.Join(modalities, ", "))
	}
	if !px.found {
		return nil, fmt.Sprintf("no pixel data (SOP class %s)", str(tag.SOPClassUID))
	}
	frames, err := dcmInt(&ds, tag.NumberOfFrames, 1)
	if err != nil {
		return nil, err.Error()
	}
	if frames < minFrames {
		return nil, fmt.Sprintf("%d frames (want at least %d)", frames, minFrames)
	}
	if len(opts.Views) > 0 && !slices.ContainsFunc(opts.Views, func(v string) bool { return strings.EqualFold(v, e.View) }) {
		if e.View == "" {
			return nil, "no view tagged"
		}
		return nil, fmt.Sprintf("view %q", e.View)
	}
	if e.Study == "" || e.Patient == "" {
		return nil, "no StudyInstanceUID (0020,000D) or no PatientID (0010,0020)"
	}
	v, err := dicomVideo(&ds, px)
	if err != nil {
		return nil, err.Error()
	}
	e.Frames, e.FPS, e.Width, e.Height, e.Channels = v.T, v.FPS, v.W, v.H, v.C
	return e, ""
}

// dicomView returns View Name (0008,2127), else the Code Meaning of the
// first item of View Code Sequence (0054,0220), else "".
func dicomView(ds *dicom.Dataset) string {
	if s, _, isInt, ok, err := dcmValue(ds, tag.ViewName); err == nil && ok && !isInt {
		return s
	}
	e, err := ds.FindElementByTag(tag.ViewCodeSequence)
	if err != nil {
		return ""
	}
	items, ok := e.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok || len(items) == 0 {
		return ""
	}
	els, _ := items[0].GetValue().([]*dicom.Element)
	item := dicom.Dataset{Elements: els}
	if s, _, isInt, ok, err := dcmValue(&item, tag.CodeMeaning); err == nil && ok && !isInt {
		return s
	}
	return ""
}

// DICOMScanColumns reads the manifests WriteDICOMManifest writes (which
// have no label or split column until one is added).
var DICOMScanColumns = Columns{Path: "path", Study: "study_id", Patient: "patient_id"}

// dicomManifestHeader is the header WriteDICOMManifest writes.
var dicomManifestHeader = []string{"path", "patient_id", "study_id", "frames", "fps", "width", "height", "channels", "transfer_syntax", "modality", "view"}

// WriteDICOMManifest writes entries as a manifest CSV with the columns path
// (relative to dir, the directory the manifest is in, when under it; else
// absolute),
// patient_id, study_id, frames, fps, width, height, channels,
// transfer_syntax, modality and view; read it with DICOMScanColumns.
func WriteDICOMManifest(w io.Writer, entries []DICOMEntry, dir string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(dicomManifestHeader); err != nil {
		return err
	}
	for _, e := range entries {
		p, err := relPath(dir, e.Path)
		if err != nil {
			if p, err = filepath.Abs(e.Path); err != nil {
				return err
			}
		}
		rec := []string{filepath.ToSlash(p), e.Patient, e.Study, strconv.Itoa(e.Frames),
			strconv.FormatFloat(e.FPS, 'g', 6, 64), strconv.Itoa(e.Width), strconv.Itoa(e.Height),
			strconv.Itoa(e.Channels), e.TransferSyntax, e.Modality, e.View}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// relPath is p relative to dir, both made absolute.
func relPath(dir, p string) (string, error) {
	ad, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	ap, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(ad, ap)
	if err != nil {
		return "", err
	}
	if rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", errors.New("outside dir")
	}
	return rel, nil
}
