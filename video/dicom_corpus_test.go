package video

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// dicomCorpusPath names a file of the corpus that
// testdata/dicom/make_corpus.py made with dcmtk, GDCM and pydicom.
func dicomCorpusPath(name string) string { return filepath.Join("testdata", "dicom", name) }

// dicomCorpusRow is a line of testdata/dicom/corpus.csv.
type dicomCorpusRow struct {
	file, ref, match, err string
	fps                   float64
}

func dicomCorpus(t testing.TB) []dicomCorpusRow {
	t.Helper()
	f, err := os.Open(dicomCorpusPath("corpus.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []dicomCorpusRow
	for _, r := range recs[1:] {
		fps, err := strconv.ParseFloat(r[3], 64)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, dicomCorpusRow{file: r[0], ref: r[1], match: r[2], fps: fps, err: r[4]})
	}
	if len(rows) < 100 {
		t.Fatalf("corpus.csv lists %d files", len(rows))
	}
	return rows
}

// dicomCorpusTodo lists the corpus files (by prefix) that ReadDICOM does
// not decode yet.
var dicomCorpusTodo = []string{"rle_", "deflate_", "bigendian_", "grey16_", "palette_", "frames_eot", "fps_vector"}

// TestReadDICOMCorpus decodes every file of the corpus and compares it with
// the reference decoding (Pillow/libjpeg-turbo for JPEG frames, pydicom and
// GDCM for lossless pixels, dcmtk's dcmj2pnm for windowed and palette
// images): "exact", "max1" (no sample off by more than 1) or "mad3" (lossy:
// mean absolute difference at most 3 grey levels).
func TestReadDICOMCorpus(t *testing.T) {
	for _, row := range dicomCorpus(t) {
		t.Run(row.file, func(t *testing.T) {
			for _, p := range dicomCorpusTodo {
				if strings.HasPrefix(row.file, p) {
					t.Skip("not decoded yet")
				}
			}
			path := dicomCorpusPath(row.file)
			v, err := ReadDICOMFile(path)
			if row.err != "" {
				if err == nil || !strings.Contains(err.Error(), row.err) || !strings.HasPrefix(err.Error(), "video: read "+path+": ") {
					t.Fatalf("error %v, want one containing %q", err, row.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := ReadNPYFile(dicomCorpusPath(row.ref))
			if err != nil {
				t.Fatal(err)
			}
			if v.T != want.T || v.H != want.H || v.W != want.W || v.C != want.C {
				t.Fatalf("got %dx%dx%dx%d, want %dx%dx%dx%d", v.T, v.H, v.W, v.C, want.T, want.H, want.W, want.C)
			}
			if math.Abs(v.FPS-row.fps) > 1e-3 {
				t.Errorf("FPS %g, want %g", v.FPS, row.fps)
			}
			mean, maxd := pixelDiff(t, v, want)
			switch {
			case row.match == "exact" && maxd != 0,
				row.match == "max1" && maxd > 1,
				row.match == "mad3" && mean > 3:
				t.Errorf("differs from the reference by %.2f on average, %d at most (want %s)", mean, maxd, row.match)
			}
		})
	}
}

func TestJPEGHeaderRGB(t *testing.T) {
	for _, tc := range []struct {
		h    jpegHeader
		want bool
	}{
		{jpegHeader{ids: []byte("RGB")}, true},
		{jpegHeader{ids: []byte{1, 2, 3}}, false},
		{jpegHeader{ids: []byte{0, 1, 2}}, false},
		{jpegHeader{ids: []byte("RGB"), jfif: true}, false},
		{jpegHeader{ids: []byte("RGB"), adobe: true, transform: 1}, false},
		{jpegHeader{ids: []byte("RGB"), adobe: true, transform: 2}, false},
		{jpegHeader{ids: []byte{1, 2, 3}, adobe: true}, true},
		{jpegHeader{ids: []byte{1, 2, 3}, adobe: true, jfif: true}, false},
		{jpegHeader{ids: []byte("RG"), adobe: true}, false},
	} {
		if got := tc.h.rgb(); got != tc.want {
			t.Errorf("%+v: rgb() = %v", tc.h, got)
		}
	}
}

func FuzzScanJPEGHeader(f *testing.F) {
	for _, name := range []string{"jpegcolour_rgb_nojfif_adobe0_idsRGB_RGB.dcm", "jpegcolour_ycc_jfif_noadobe_ids123_RGB.dcm"} {
		data, err := os.ReadFile(dicomCorpusPath(name))
		if err != nil {
			f.Fatal(err)
		}
		px, err := checkDICOM(data)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(px.fragments[0])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h := scanJPEGHeader(data)
		if len(h.ids) > 255 {
			t.Fatalf("%d component ids", len(h.ids))
		}
		h.rgb()
	})
}
