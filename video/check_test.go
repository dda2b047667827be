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

// corruptScan returns a copy of an MJPEG AVI whose frame k has its entropy-
// coded data cut short by an EOI marker: the headers are intact, the pixels
// are not.
func corruptScan(t *testing.T, avi []byte, k int) []byte {
	t.Helper()
	out := bytes.Clone(avi)
	off := 0
	for i := 0; i <= k; i++ {
		j := bytes.Index(out[off:], []byte{0xff, 0xda})
		if j < 0 {
			t.Fatalf("frame %d has no SOS marker", i)
		}
		off += j + 2
	}
	sosLen := int(out[off])<<8 | int(out[off+1])
	copy(out[off+sosLen:], []byte{0xff, 0xd9})
	return out
}

func TestProbeFile(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteAVI(&buf, patternVideo(3, 8, 8, 3), nil); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	if _, err := readAVIBytes(corruptScan(t, full, 1)); err == nil {
		t.Fatal("a corrupt scan decodes: the test cannot tell header checks from decoding")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "a.avi")
	if err := os.WriteFile(path, full, 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := ProbeFile(path)
	if err != nil || info != (Info{T: 3, H: 8, W: 8, C: 3, FPS: DefaultAVIFPS}) {
		t.Errorf("ProbeFile = %+v, %v", info, err)
	}
	// Every truncation is found from the header.
	cut := filepath.Join(dir, "cut.avi")
	for n := range len(full) {
		if err := os.WriteFile(cut, full[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ProbeFile(cut); err == nil {
			t.Fatalf("file cut to %d of %d bytes: no error", n, len(full))
		} else if !strings.HasPrefix(err.Error(), "video: read "+cut+": ") {
			t.Fatalf("error %q does not name the file", err)
		}
	}
	// The same for files that others wrote, DIB included.
	for _, f := range []string{"ffmpeg_bgr24.avi", "opencv_mjpg.avi"} {
		v, err := ReadFile(testdataPath(f))
		if err != nil {
			t.Fatal(err)
		}
		info, err := ProbeFile(testdataPath(f))
		if err != nil || info != (Info{T: v.T, H: v.H, W: v.W, C: v.C, FPS: v.FPS}) {
			t.Errorf("%s: ProbeFile = %+v, %v; ReadFile gives %dx%dx%dx%d at %g fps", f, info, err, v.T, v.H, v.W, v.C, v.FPS)
		}
	}
}

// TestCheckFiles checks a manifest with good files and four kinds of bad
// ones, by header and by decoding, stopping and skipping.
func TestCheckFiles(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteAVI(&buf, patternVideo(3, 8, 8, 3), nil); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	dir := t.TempDir()
	files := map[string][]byte{
		"good1.avi":     good,
		"truncated.avi": good[:len(good)-100],
		"good2.avi":     good,
		"corrupt.avi":   corruptScan(t, good, 2),
		"garbage.avi":   []byte("not a video at all"),
		"good3.avi":     good,
		"gone.avi":      good,
	}
	order := []string{"good1.avi", "truncated.avi", "good2.avi", "corrupt.avi", "garbage.avi", "good3.avi", "gone.avi"}
	csv := "path,patient_id,study_id,label,split\n"
	for i, name := range order {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			t.Fatal(err)
		}
		csv += fmt.Sprintf("%s,P%d,S%d,%d,train\n", name, i, i, i%2)
	}
	mpath := filepath.Join(dir, "m.csv")
	if err := os.WriteFile(mpath, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(mpath, OurColumns)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "gone.avi")); err != nil { // removed after the manifest was read
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		decode bool
		bad    []string // the unreadable files, with their rows
	}{
		{false, []string{"row 3: video: read " + filepath.Join(dir, "truncated.avi"), "row 6: video: read " + filepath.Join(dir, "garbage.avi"), "row 8: video: read " + filepath.Join(dir, "gone.avi")}},
		{true, []string{"row 3: video: read " + filepath.Join(dir, "truncated.avi"), "row 5: video: read " + filepath.Join(dir, "corrupt.avi") + ": frame 2", "row 6: video: read " + filepath.Join(dir, "garbage.avi"), "row 8: video: read " + filepath.Join(dir, "gone.avi")}},
	} {
		calls := 0
		ok, rep, err := CheckFiles(ctx, m, FileCheckOptions{Decode: c.decode, Workers: 3, Progress: func(done, total int) { calls++ }})
		var fr *FileReport
		if !errors.As(err, &fr) || ok != nil {
			t.Fatalf("decode %v: error %v (%T), manifest %v; want a *FileReport", c.decode, err, err, ok)
		}
		if calls != len(order) {
			t.Errorf("decode %v: %d progress calls, want %d", c.decode, calls, len(order))
		}
		msg := err.Error()
		if want := fmt.Sprintf("video: check files: %d of %d unreadable", len(c.bad), len(order)); !strings.HasPrefix(msg, want) {
			t.Errorf("decode %v: error starts %q, want %q", c.decode, msg[:min(len(msg), len(want))], want)
		}
		for _, b := range c.bad {
			if !strings.Contains(msg, mpath+" "+b) {
				t.Errorf("decode %v: error lacks %q:\n%s", c.decode, mpath+" "+b, msg)
			}
		}
		if got := strings.Count(msg, "\n\t"); got != len(c.bad) {
			t.Errorf("decode %v: %d files listed, want %d:\n%s", c.decode, got, len(c.bad), msg)
		}
		// Skipping returns the readable records and the same report.
		ok, rep2, err := CheckFiles(ctx, m, FileCheckOptions{Decode: c.decode, SkipUnreadable: true})
		if err != nil {
			t.Fatalf("decode %v, skip: %v", c.decode, err)
		}
		if len(ok.Records) != len(order)-len(c.bad) || len(rep2.Unreadable) != len(c.bad) || rep2.Checked != len(order) || rep2.Error() != rep.Error() {
			t.Errorf("decode %v, skip: %d records kept, report %v", c.decode, len(ok.Records), rep2)
		}
		for _, r := range ok.Records {
			if !strings.Contains(r.Path, "good") && (c.decode || !strings.Contains(r.Path, "corrupt")) {
				t.Errorf("decode %v, skip: kept %s", c.decode, r.Path)
			}
		}
	}
	// All readable: the manifest itself, no error.
	goodOnly := &Manifest{Records: []Record{m.Records[0], m.Records[2]}}
	if ok, rep, err := CheckFiles(ctx, goodOnly, FileCheckOptions{Decode: true}); err != nil || ok != goodOnly || rep.Checked != 2 || len(rep.Unreadable) != 0 {
		t.Errorf("good files: %v, %+v, %v", ok, rep, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := CheckFiles(cancelled, m, FileCheckOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v", err)
	}
	if _, _, err := CheckFiles(ctx, nil, FileCheckOptions{}); err == nil {
		t.Error("nil manifest: no error")
	}
}
