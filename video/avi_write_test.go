package video

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestAVIRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name       string
		c, quality int
		fps        float64
		mean       float64
		maxd       int
	}{
		{"grey default quality", 1, 0, 25, 0.5, 3},
		{"grey quality 100", 1, 100, 50, 0.1, 1},
		{"RGB quality 90", 3, 90, 29.97, 1.5, 5},
		{"RGB quality 100", 3, 100, 0, 1, 3},
		{"grey quality 10", 1, 10, 12.5, 5, 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := patternVideo(patT, patH, patW, tc.c) // no wrap-around edges
			v.FPS = tc.fps
			var buf bytes.Buffer
			var opts *AVIOptions
			if tc.quality != 0 {
				opts = &AVIOptions{Quality: tc.quality}
			}
			if err := WriteAVI(&buf, v, opts); err != nil {
				t.Fatal(err)
			}
			got, err := ReadAVI(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "mem.avi")
			if err != nil {
				t.Fatal(err)
			}
			wantFPS := tc.fps
			if wantFPS == 0 {
				wantFPS = DefaultAVIFPS
			}
			if got.FPS != wantFPS || got.Source != "mem.avi" {
				t.Errorf("FPS %g, Source %q; want %g, mem.avi", got.FPS, got.Source, wantFPS)
			}
			mean, maxd := pixelDiff(t, got, v)
			t.Logf("%d bytes; mean error %.3f, max %d", buf.Len(), mean, maxd)
			if mean > tc.mean || maxd > tc.maxd {
				t.Errorf("mean error %.3f, max %d; want at most %g, %d", mean, maxd, tc.mean, tc.maxd)
			}
		})
	}
}

// TestWriteAVILayout checks the header fields that other readers rely on.
func TestWriteAVILayout(t *testing.T) {
	v := patternVideo(3, 10, 14, 3)
	v.FPS = 29.97
	var buf bytes.Buffer
	if err := WriteAVI(&buf, v, nil); err != nil {
		t.Fatal(err)
	}
	d := buf.Bytes()
	u32 := func(off int) uint32 { return binary.LittleEndian.Uint32(d[off:]) }
	if string(d[:4]) != "RIFF" || int(u32(4)) != len(d)-8 || string(d[8:12]) != "AVI " {
		t.Fatalf("bad RIFF header % x", d[:12])
	}
	at := func(s string) int {
		i := bytes.Index(d, []byte(s))
		if i < 0 {
			t.Fatalf("no %q", s)
		}
		return i
	}
	avih := at("avih") + 8
	if u32(avih) != 33367 || u32(avih+12)&0x10 == 0 || u32(avih+16) != 3 || u32(avih+24) != 1 || u32(avih+32) != 14 || u32(avih+36) != 10 {
		t.Errorf("avih % x", d[avih:avih+56])
	}
	strh := at("strh") + 8
	if string(d[strh:strh+8]) != "vidsMJPG" || u32(strh+20) != 100 || u32(strh+24) != 2997 || u32(strh+32) != 3 {
		t.Errorf("strh % x", d[strh:strh+56])
	}
	strf := at("strf") + 8
	if u32(strf) != 40 || u32(strf+4) != 14 || u32(strf+8) != 10 || string(d[strf+16:strf+20]) != "MJPG" {
		t.Errorf("strf % x", d[strf:strf+40])
	}
	movi := at("movi")
	idx := at("idx1")
	if int(u32(idx+4)) != 16*3 || idx+8+48 != len(d) {
		t.Fatalf("idx1 of %d bytes at %d, file of %d", u32(idx+4), idx, len(d))
	}
	for i := range 3 {
		e := idx + 8 + 16*i
		off, size := int(u32(e+8)), int(u32(e+12))
		chunk := movi + off
		if string(d[e:e+4]) != "00dc" || u32(e+4) != 0x10 || string(d[chunk:chunk+4]) != "00dc" || int(u32(chunk+4)) != size ||
			d[chunk+8] != 0xFF || d[chunk+9] != 0xD8 {
			t.Errorf("index entry %d (% x) does not point at a JPEG chunk", i, d[e:e+16])
		}
	}
}

func TestAVIRate(t *testing.T) {
	for _, tc := range []struct {
		fps         float64
		rate, scale uint32
	}{
		{0, 30, 1}, {25, 25, 1}, {29.97, 2997, 100}, {12.5, 25, 2}, {59.94, 2997, 50}, {0.5, 1, 2},
	} {
		rate, scale, err := aviRate(tc.fps)
		if err != nil || rate != tc.rate || scale != tc.scale {
			t.Errorf("aviRate(%g) = %d/%d, %v; want %d/%d", tc.fps, rate, scale, err, tc.rate, tc.scale)
		}
	}
	for _, fps := range []float64{-1, 1e9, nan()} {
		if _, _, err := aviRate(fps); err == nil {
			t.Errorf("aviRate(%g): no error", fps)
		}
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestWriteAVIErrors(t *testing.T) {
	good := patternVideo(1, 4, 4, 1)
	for _, tc := range []struct {
		name string
		v    *Video
		opts *AVIOptions
		want string
	}{
		{"nil", nil, nil, "nil video"},
		{"short frames", &Video{Frames: make([]uint8, 10), T: 1, H: 4, W: 4, C: 1}, nil, "10 bytes of frames, want 16"},
		{"C=2", &Video{Frames: make([]uint8, 32), T: 1, H: 4, W: 4, C: 2}, nil, "bad video size"},
		{"quality", good, &AVIOptions{Quality: 101}, "JPEG quality 101"},
		{"fps", &Video{Frames: good.Frames, T: 1, H: 4, W: 4, C: 1, FPS: -3}, nil, "frame rate -3"},
		{"too wide", &Video{Frames: make([]uint8, 70000), T: 1, H: 1, W: 70000, C: 1}, nil, "larger than JPEG allows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteAVI(&bytes.Buffer{}, tc.v, tc.opts)
			if err == nil || !strings.HasPrefix(err.Error(), "video: write AVI: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteAVIWriterError(t *testing.T) {
	v := patternVideo(3, 8, 8, 1)
	var buf bytes.Buffer
	if err := WriteAVI(&buf, v, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 100, 300, buf.Len() - 1} {
		if err := WriteAVI(&failWriter{n: n}, v, nil); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("writer failing after %d bytes: error %v", n, err)
		}
	}
}

func TestWriteAVIFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.avi")
	if err := os.WriteFile(path, []byte("old content"), 0o644); err != nil {
		t.Fatal(err)
	}
	v := patternVideo(4, 16, 16, 3)
	// A failing write leaves the old file and no temporary file.
	if err := WriteAVIFile(path, &Video{T: 1, H: 1, W: 1, C: 1}, nil); err == nil || !strings.HasPrefix(err.Error(), "video: write "+path+": ") {
		t.Fatalf("error %v, want one naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "old content" {
		t.Fatalf("old file changed to %q", b)
	}
	if err := WriteAVIFile(path, v, &AVIOptions{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "a.avi" {
		t.Errorf("directory holds %v, want only a.avi", entries)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("stat: %v, %v; want mode 0644", st, err)
	}
	got, err := ReadAVIFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if mean, _ := pixelDiff(t, got, v); mean > 2 {
		t.Errorf("mean error %g", mean)
	}
	// A directory that does not exist.
	if err := WriteAVIFile(filepath.Join(dir, "no", "b.avi"), v, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v, want one wrapping os.ErrNotExist", err)
	}
}

// TestWriteAVIFFprobe checks with ffprobe, when it is installed, that ffmpeg
// reads our files with the right codec, size, frame count and rate.
func TestWriteAVIFFprobe(t *testing.T) {
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Skip("ffprobe not installed")
	}
	for _, c := range []int{1, 3} {
		v := patternVideo(7, 24, 40, c)
		v.FPS = 29.97
		path := filepath.Join(t.TempDir(), "v.avi")
		if err := WriteAVIFile(path, v, nil); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
			"-show_entries", "stream=codec_name,width,height,nb_read_frames,r_frame_rate", "-of", "csv=p=0", path).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe: %v\n%s", err, out)
		}
		want := "mjpeg,40,24,2997/100," + strconv.Itoa(v.T)
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("C=%d: ffprobe says %q, want %q", c, got, want)
		}
	}
}
