package video_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidssl/vidssl/video"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	copyAs := func(src, name string) string {
		data, err := os.ReadFile(filepath.Join("testdata", "io", src))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		src, name string
		c         int
	}{
		{"opencv_mjpg.avi", "A.AVI", 3},
		{"mono2_explicit.dcm", "b.dicom", 1},
		{"mono2_explicit.dcm", "IM_0001", 1}, // sniffed: DICM at 128
		{"ffmpeg_gray.avi", "clip", 1},       // sniffed: RIFF AVI
		{"u8_thw.npy", "arr", 1},             // sniffed: \x93NUMPY
		{"named.npz", "arrays", 3},           // sniffed: zip
		{"f32_thwc_unit.npy", "c.NPY", 3},
	} {
		p := copyAs(tc.src, tc.name)
		v, err := video.ReadFile(p)
		if err != nil {
			t.Errorf("%s as %s: %v", tc.src, tc.name, err)
			continue
		}
		if v.T != 4 || v.H != 24 || v.W != 32 || v.C != tc.c || v.Source != p {
			t.Errorf("%s as %s: %dx%dx%dx%d from %q", tc.src, tc.name, v.T, v.H, v.W, v.C, v.Source)
		}
	}
	unknown := filepath.Join(dir, "notes.mp4")
	os.WriteFile(unknown, []byte("hello"), 0o644)
	if _, err := video.ReadFile(unknown); err == nil || !strings.HasPrefix(err.Error(), "video: read "+unknown+": unknown video format") {
		t.Errorf("unknown format: error %v", err)
	}
	// The extension wins over the content.
	if _, err := video.ReadFile(copyAs("u8_thw.npy", "x.avi")); err == nil || !strings.Contains(err.Error(), "not an AVI file") {
		t.Errorf(".npy named .avi: error %v", err)
	}
	if _, err := video.ReadFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: error %v", err)
	}
}

// Write a cine loop as a Motion JPEG AVI and read it back.
func ExampleWriteAVI() {
	v, err := video.New(16, 64, 64, 1) // 16 grey frames of 64x64
	if err != nil {
		log.Fatal(err)
	}
	v.FPS = 30
	for t := range v.T {
		f := v.Frame(t)
		for i := range f {
			f[i] = uint8(4*t + i%64) // a gradient that brightens over time
		}
	}
	var buf bytes.Buffer
	if err := video.WriteAVI(&buf, v, &video.AVIOptions{Quality: 95}); err != nil {
		log.Fatal(err)
	}
	w, err := video.ReadAVI(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "mem.avi")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d frames of %dx%d, %d channel, %g fps\n", w.T, w.W, w.H, w.C, w.FPS)
	// Output:
	// 16 frames of 64x64, 1 channel, 30 fps
}

// Read any supported file; the format comes from the extension or the
// content.
func ExampleReadFile() {
	dir, err := os.MkdirTemp("", "vidssl")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	v, _ := video.New(8, 32, 48, 3)
	path := filepath.Join(dir, "study12", "a.avi")
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := video.WriteAVIFile(path, v, nil); err != nil {
		log.Fatal(err)
	}
	w, err := video.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.T, w.H, w.W, w.C, w.FPS)

	_, err = video.ReadFile(filepath.Join(dir, "study12", "b.avi"))
	fmt.Println(strings.ReplaceAll(err.Error(), dir, "DIR"))
	// Output:
	// 8 32 48 3 30
	// video: read DIR/study12/b.avi: open DIR/study12/b.avi: no such file or directory
}
