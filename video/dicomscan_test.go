package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scanFolder lays out a folder as a PACS export might: cine loops in
// several encodings, single frames, a structured report, files that are not
// DICOM, a truncated loop and one in an unsupported encoding.
func scanFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	put := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(name string) []byte {
		data, err := os.ReadFile(dicomCorpusPath(name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for dst, src := range map[string]string{
		"a/1/rle.dcm":            "rle_rgb_dcmtk.dcm",
		"a/1/jpeg":               "frames_split_bot.dcm", // no extension
		"a/2/deflate.dcm":        "deflate_grey.dcm",
		"b/lossless.dcm":         "jpeg_lossless_sv1_rgb_gdcm.dcm",
		"b/single.dcm":           "jpegcolour_ycc_jfif_noadobe_ids123_RGB.dcm",
		"b/report.dcm":           "report_sr.dcm",
		"b/jpegls.dcm":           "jpegls.dcm",
		"c/grey16_minmax.dcm":    "grey16_minmax.dcm",
		"c/notes/fps_vector.dcm": "fps_vector.dcm",
		"c/view.dcm":             "view_plax.dcm",
	} {
		put(dst, read(src))
	}
	full := read("rle_grey_gdcm.dcm")
	put("c/truncated.dcm", full[:len(full)-100])
	put("c/readme.txt", []byte("not DICOM\n"))
	put("empty", nil)
	return dir
}

func TestScanDICOM(t *testing.T) {
	dir := scanFolder(t)
	var calls []int
	entries, skips, err := ScanDICOM(context.Background(), dir, DICOMScanOptions{Workers: 3, Progress: func(done, total int) {
		if total != 13 {
			t.Errorf("progress total %d", total)
		}
		calls = append(calls, done)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 13 || calls[12] != 13 {
		t.Errorf("progress calls %v", calls)
	}
	var kept []string
	for _, e := range entries {
		rel, _ := filepath.Rel(dir, e.Path)
		kept = append(kept, fmt.Sprintf("%s %dx%dx%dx%d %gfps %s %s", filepath.ToSlash(rel), e.Frames, e.Height, e.Width, e.Channels, e.FPS, e.TransferSyntax, e.Patient))
	}
	want := []string{
		"a/1/jpeg 4x48x64x3 25fps 1.2.840.10008.1.2.4.50 P1",
		"a/1/rle.dcm 4x24x32x3 25fps 1.2.840.10008.1.2.5 P1",
		"a/2/deflate.dcm 4x24x32x1 25fps 1.2.840.10008.1.2.1.99 P1",
		"b/lossless.dcm 4x24x32x3 25fps 1.2.840.10008.1.2.4.70 P1",
		"c/grey16_minmax.dcm 4x24x32x1 25fps 1.2.840.10008.1.2.1 P1",
		"c/notes/fps_vector.dcm 4x24x32x1 50fps 1.2.840.10008.1.2.1 P1",
		"c/view.dcm 4x24x32x1 25fps 1.2.840.10008.1.2.1 P1",
	}
	if strings.Join(kept, "\n") != strings.Join(want, "\n") {
		t.Errorf("kept\n%s\nwant\n%s", strings.Join(kept, "\n"), strings.Join(want, "\n"))
	}
	reasons := map[string]string{
		"b/single.dcm":    "1 frames (want at least 2)",
		"b/report.dcm":    `modality "SR" (want US)`,
		"b/jpegls.dcm":    "unsupported transfer syntax 1.2.840.10008.1.2.4.80",
		"c/truncated.dcm": "truncated",
		"c/readme.txt":    "not a DICOM file",
		"empty":           "not a DICOM file",
	}
	if len(skips) != len(reasons) {
		t.Errorf("%d skipped, want %d: %v", len(skips), len(reasons), skips)
	}
	for _, s := range skips {
		rel, _ := filepath.Rel(dir, s.Path)
		if want, ok := reasons[filepath.ToSlash(rel)]; !ok || !strings.Contains(s.Reason, want) {
			t.Errorf("skipped %s: %s; want a reason containing %q", rel, s.Reason, want)
		}
	}

	// The manifest reads back with the manifest reader.
	var b bytes.Buffer
	if err := WriteDICOMManifest(&b, entries, dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "manifest.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(path, DICOMScanColumns)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Records) != len(entries) || m.Records[0].Path != entries[0].Path || m.Records[0].Study != "1.2.826.0.1.3680043.10.99" {
		t.Errorf("manifest reads back as %+v", m.Records[0])
	}
	if !strings.HasPrefix(b.String(), "path,patient_id,study_id,frames,fps,width,height,channels,transfer_syntax,modality,view\na/1/jpeg,P1,") {
		t.Errorf("manifest:\n%s", b.String())
	}
}

func TestScanDICOMFilters(t *testing.T) {
	dir := scanFolder(t)
	entries, skips, err := ScanDICOM(context.Background(), dir, DICOMScanOptions{Modalities: []string{"US", "SR"}, MinFrames: 1, Views: []string{"PLAX", "Parasternal Long Axis"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].View != "parasternal long axis" || !strings.HasSuffix(entries[0].Path, "view.dcm") {
		t.Errorf("kept %v", entries)
	}
	n := 0
	for _, s := range skips {
		switch {
		case strings.HasSuffix(s.Path, "report.dcm"):
			if !strings.Contains(s.Reason, "no pixel data") {
				t.Errorf("%s: %s", s.Path, s.Reason)
			}
		case s.Reason == "no view tagged":
			n++
		}
	}
	if n != 7 {
		t.Errorf("%d files skipped for their view, want 7", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := ScanDICOM(ctx, dir, DICOMScanOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v", err)
	}
}

func ExampleScanDICOM() {
	// Keep the parasternal long-axis loops of the test corpus.
	opts := DICOMScanOptions{Views: []string{"Parasternal Long Axis"}, Workers: 2}
	entries, skips, err := ScanDICOM(context.Background(), "testdata/dicom", opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range entries {
		fmt.Printf("%s: %d frames of %dx%d at %g fps, view %q\n", filepath.Base(e.Path), e.Frames, e.Width, e.Height, e.FPS, e.View)
	}
	for _, s := range skips {
		if strings.HasSuffix(s.Path, "report_sr.dcm") || strings.HasSuffix(s.Path, "rle_rgb_dcmtk.dcm") {
			fmt.Printf("skipped %s: %s\n", filepath.Base(s.Path), s.Reason)
		}
	}
	// Then WriteDICOMManifest(w, entries, the manifest's directory).

	// Output:
	// view_plax.dcm: 4 frames of 32x24 at 25 fps, view "parasternal long axis"
	// skipped report_sr.dcm: modality "SR" (want US)
	// skipped rle_rgb_dcmtk.dcm: no view tagged
}
