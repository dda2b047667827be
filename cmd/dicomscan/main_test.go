package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/video"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"rle_rgb_dcmtk.dcm", "report_sr.dcm", "jpegcolour_ycc_jfif_noadobe_ids123_RGB.dcm"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "video", "testdata", "dicom", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, skipped := filepath.Join(dir, "manifest.csv"), filepath.Join(t.TempDir(), "skipped.csv")
	if err := run(dir, out, skipped, "US", "", 2, 1, true); err != nil {
		t.Fatal(err)
	}
	m, err := video.ReadManifest(out, video.DICOMScanColumns)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Records) != 1 || filepath.Base(m.Records[0].Path) != "rle_rgb_dcmtk.dcm" {
		t.Errorf("manifest records %+v", m.Records)
	}
	rep, err := os.ReadFile(skipped)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`report_sr.dcm,"modality ""SR"" (want US)"`, "jpegcolour_ycc_jfif_noadobe_ids123_RGB.dcm,1 frames (want at least 2)", "notes.txt,not a DICOM file"} {
		if !strings.Contains(string(rep), want) {
			t.Errorf("skipped report lacks %q:\n%s", want, rep)
		}
	}
}
