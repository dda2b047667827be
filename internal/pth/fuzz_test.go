package pth

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedFiles are the committed .pth files and a few hand-made ones.
func seedFiles(f *testing.F) [][]byte {
	names, err := filepath.Glob("testdata/*.p*")
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, n := range names {
		if strings.HasSuffix(n, ".py") {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	data := floatsLE(1, 2, 3, 4, 5, 6)
	out = append(out,
		archive(f, stateDict("FloatStorage", "0", 6, 1, []int32{2, 2}, []int32{1, 2}), "data/0", data),
		archive(f, stateDict("HalfStorage", "0", 3, 0, []int32{3}, []int32{1}), "data/0", data, "byteorder", []byte("big")),
	)
	return out
}

// checkFile checks what a successful Read promises.
func checkFile(t *testing.T, f *File) {
	for _, tt := range f.All {
		want := 1
		for _, d := range tt.Shape {
			want *= d
		}
		if len(tt.Data) != want || (tt.Ints != nil && len(tt.Ints) != want) {
			t.Fatalf("%s: shape %v but %d values, %d ints", tt.Name, tt.Shape, len(tt.Data), len(tt.Ints))
		}
	}
}

func FuzzRead(f *testing.F) {
	for _, b := range seedFiles(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Read(bytes.NewReader(b), int64(len(b)), "fuzz.pth")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "pth: read fuzz.pth: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		checkFile(t, file)
	})
}

// FuzzPickle runs data.pkl contents against fixed storages, so that the fuzzer
// reaches the pickle machine without first having to fix zip checksums.
func FuzzPickle(f *testing.F) {
	for _, b := range seedFiles(f) {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			continue
		}
		for _, e := range zr.File {
			if strings.HasSuffix(e.Name, "/data.pkl") {
				rc, err := e.Open()
				if err != nil {
					f.Fatal(err)
				}
				pkl, err := io.ReadAll(rc)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(pkl)
			}
		}
	}
	f.Add(stateDict("FloatStorage", "5", 12, 1, []int32{2, 3}, []int32{1, 2}))
	f.Add(stateDict("HalfStorage", "6", 48, 0, []int32{2, 0, 3}, []int32{0, 1, 1}))
	f.Add(stateDict("LongStorage", "7", 1, 0, nil, nil))
	storages := []any{}
	for i, n := range []int{0, 1, 2, 8, 24, 48, 96, 8, 8, 8} {
		storages = append(storages, "data/"+string(rune('0'+i)), bytes.Repeat([]byte{0x3c, 0x01}, n/2))
	}
	f.Fuzz(func(t *testing.T, pkl []byte) {
		b := archive(t, pkl, storages...)
		file, err := Read(bytes.NewReader(b), int64(len(b)), "fuzz.pth")
		if err != nil {
			return
		}
		checkFile(t, file)
	})
}
