package video

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadNPYTestdata(t *testing.T) {
	for _, tc := range []struct {
		file string
		c    int
	}{
		{"u8_thw.npy", 1},
		{"f32_thwc_unit.npy", 3}, // values / 255
		{"f32_thw_255.npy", 1},
		{"arr0.npz", 1},  // savez_compressed, one unnamed array
		{"named.npz", 3}, // arrays "labels" and "video"
	} {
		t.Run(tc.file, func(t *testing.T) {
			v, err := ReadFile(testdataPath(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if _, maxd := pixelDiff(t, v, patternVideo(patT, patH, patW, tc.c)); maxd != 0 {
				t.Errorf("differs from the pattern by up to %d", maxd)
			}
			if v.Source != testdataPath(tc.file) || v.FPS != 0 {
				t.Errorf("Source %q, FPS %g", v.Source, v.FPS)
			}
		})
	}
	for file, want := range map[string]string{
		"fortran.npy":       "fortran_order arrays are not supported",
		"f32_bigendian.npy": `dtype ">f4" is not supported`,
		"ambiguous.npz":     "npz: 2 arrays (a, b) and none named video or arr_0",
	} {
		_, err := ReadFile(testdataPath(file))
		if err == nil || !strings.Contains(err.Error(), testdataPath(file)+": ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", file, err, want)
		}
	}
}

// npyBytes encodes a .npy file with the given header dict and data.
func npyBytes(version byte, dict string, data []byte) []byte {
	pre := 10
	if version > 1 {
		pre = 12
	}
	h := dict + strings.Repeat(" ", (64-(pre+len(dict)+1)%64)%64) + "\n"
	b := append([]byte(npyMagic), version, 0)
	if version == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	}
	b = append(b, h...)
	return append(b, data...)
}

func float32Bytes(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func TestReadNPY(t *testing.T) {
	u8 := []byte{1, 2, 3, 4, 5, 6}
	for _, tc := range []struct {
		name         string
		data         []byte
		t, h, w, c   int
		want         []uint8
		viaPlainRead bool
	}{
		{"uint8 THW", npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 3), }", u8), 1, 2, 3, 1, u8, false},
		{"uint8 THWC C=1, version 2", npyBytes(2, `{"descr": "<u1", "fortran_order": False, "shape": (2, 1, 3, 1)}`, u8), 2, 1, 3, 1, u8, true},
		{"uint8 THWC C=3, version 3", npyBytes(3, "{'shape':(1,1,2,3),'fortran_order':False,'descr':'|u1'}", u8), 1, 1, 2, 3, u8, true},
		{"float32 in [0,1]", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 4), }",
			float32Bytes(0, 0.5, 1, 0.1)), 1, 1, 4, 1, []uint8{0, 128, 255, 26}, false},
		{"float32 in [0,255]", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 4), }",
			float32Bytes(0, 0.5, 255, 1.5)), 1, 1, 4, 1, []uint8{0, 1, 255, 2}, true},
		{"trailing data ignored", npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 3), }", append(bytes.Clone(u8), 9, 9)), 1, 2, 3, 1, u8, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(tc.data)
			if tc.viaPlainRead {
				r = iotest.OneByteReader(r) // no Len method: the size is unknown
			}
			v, err := ReadNPY(r, "a.npy")
			if err != nil {
				t.Fatal(err)
			}
			if v.T != tc.t || v.H != tc.h || v.W != tc.w || v.C != tc.c || v.Source != "a.npy" || !bytes.Equal(v.Frames, tc.want) {
				t.Errorf("got %dx%dx%dx%d %v from %q, want %dx%dx%dx%d %v", v.T, v.H, v.W, v.C, v.Frames, v.Source, tc.t, tc.h, tc.w, tc.c, tc.want)
			}
		})
	}
}

func TestReadNPYErrors(t *testing.T) {
	good := "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 3), }"
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "header: unexpected EOF"},
		{"magic", []byte("\x93NUMPX\x01\x00\x10\x00"), "not a .npy file"},
		{"version", npyBytes(4, good, make([]byte, 6)), "unsupported format version 4.0"},
		{"header too long", append([]byte(npyMagic+"\x02\x00"), 0xFF, 0xFF, 0xFF, 0x7F), "header of 2147483647 bytes is too long"},
		{"header truncated", npyBytes(1, good, nil)[:30], "header"},
		{"not a dict", npyBytes(1, "['descr']", nil), "want a dict"},
		{"missing key", npyBytes(1, "{'descr': '|u1', 'shape': (1, 2, 3)}", nil), `no "fortran_order" key`},
		{"unknown key", npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 3), 'x': 1}", nil), `unexpected key "x"`},
		{"bad bool", npyBytes(1, "{'descr': '|u1', 'fortran_order': 0, 'shape': (1, 2, 3)}", nil), "want True or False"},
		{"bad shape", npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, -2, 3)}", nil), "want a non-negative integer"},
		{"unterminated", npyBytes(1, "{'descr: '|u1'", nil), "want ':'"},
		{"text after", npyBytes(1, good+" x", nil), "text after the dict"},
		{"fortran", npyBytes(1, "{'descr': '|u1', 'fortran_order': True, 'shape': (1, 2, 3), }", make([]byte, 6)), "fortran_order"},
		{"int16", npyBytes(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (1, 2, 3), }", make([]byte, 12)), `dtype "<i2" is not supported`},
		{"float64", npyBytes(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 3), }", make([]byte, 48)), `dtype "<f8"`},
		{"2-D", npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", make([]byte, 6)), "shape [2 3] is not (T, H, W)"},
		{"C=2", npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1, 3, 2), }", make([]byte, 6)), "shape [1 1 3 2]"},
		{"zero frames", npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 2, 3), }", nil), "bad video size 0x2x3x1"},
		{"truncated data", npyBytes(1, good, make([]byte, 5)), "truncated: shape [1 2 3] of |u1 needs 6 bytes, 5 are left"},
		{"huge shape", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }", nil), "larger than"},
		{"big but not huge shape", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000, 1000), }", nil), "needs 4000000000 bytes, 0 are left"},
		{"NaN", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }", float32Bytes(0, float32(math.NaN()))), "float32 value NaN at index 1 is outside [0, 255]"},
		{"negative", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }", float32Bytes(-0.5, 1)), "value -0.5 at index 0"},
		{"too big", npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }", float32Bytes(256, 1)), "value 256 at index 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, plain := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(tc.data)
				if plain {
					r = iotest.OneByteReader(r)
				}
				var v *Video
				var err error
				if n := allocatedBy(func() { v, err = ReadNPY(r, "a.npy") }); n > 16<<20 {
					t.Errorf("allocated %d bytes for a %d-byte file", n, len(tc.data))
				}
				want := tc.want
				if plain && strings.HasPrefix(want, "truncated: shape") {
					want = "truncated: 5 of 6 bytes" // the size is not known up front
				}
				if plain && strings.HasPrefix(want, "needs 4000000000") {
					want = "truncated: 0 of 4000000000 bytes"
				}
				if err == nil || !strings.HasPrefix(err.Error(), "video: read a.npy: npy: ") || !strings.Contains(err.Error(), want) {
					t.Errorf("plain reader %v: got %v, error %v; want an error containing %q", plain, v != nil, err, want)
				}
			}
		})
	}
}

func TestReadNPYTruncated(t *testing.T) {
	full := npyBytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2, 3), }", float32Bytes(make([]float32, 24)...))
	for n := range len(full) {
		if _, err := ReadNPY(bytes.NewReader(full[:n]), "a.npy"); err == nil {
			t.Fatalf("cut to %d of %d bytes: no error", n, len(full))
		}
		if _, err := ReadNPY(iotest.HalfReader(bytes.NewReader(full[:n])), "a.npy"); err == nil {
			t.Fatalf("cut to %d of %d bytes, plain reader: no error", n, len(full))
		}
	}
}

// npzBytes zips arrays (name -> .npy bytes), stored or deflated.
func npzBytes(t *testing.T, deflate bool, arrays ...[2]string) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for _, a := range arrays {
		m := zip.Store
		if deflate {
			m = zip.Deflate
		}
		w, err := z.CreateHeader(&zip.FileHeader{Name: a[0], Method: m})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(a[1]))
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadNPZ(t *testing.T) {
	arr := func(v byte) string {
		return string(npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1, 2), }", []byte{v, v}))
	}
	for _, tc := range []struct {
		name   string
		arrays [][2]string
		want   byte // first pixel
		err    string
	}{
		{"only array", [][2]string{{"x.npy", arr(1)}}, 1, ""},
		{"arr_0", [][2]string{{"arr_1.npy", arr(2)}, {"arr_0.npy", arr(1)}}, 1, ""},
		{"video wins", [][2]string{{"arr_0.npy", arr(1)}, {"video.npy", arr(3)}}, 3, ""},
		{"ambiguous", [][2]string{{"a.npy", arr(1)}, {"b.npy", arr(2)}}, 0, "npz: 2 arrays (a, b) and none named video or arr_0"},
		{"no arrays", [][2]string{{"readme.txt", "hi"}}, 0, "npz: no .npy arrays"},
		{"bad array", [][2]string{{"video.npy", arr(1)[:20]}}, 0, "video.npy: npy: header"},
	} {
		for _, deflate := range []bool{false, true} {
			data := npzBytes(t, deflate, tc.arrays...)
			v, err := ReadNPZ(bytes.NewReader(data), int64(len(data)), "a.npz")
			switch {
			case tc.err != "":
				if err == nil || !strings.HasPrefix(err.Error(), "video: read a.npz: ") || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
				}
			case err != nil:
				t.Errorf("%s: %v", tc.name, err)
			case v.Frames[0] != tc.want || v.Source != "a.npz":
				t.Errorf("%s: read pixel %d from %q, want %d", tc.name, v.Frames[0], v.Source, tc.want)
			}
		}
	}
	if _, err := ReadNPZ(bytes.NewReader([]byte("PK\x03\x04junk")), 8, "a.npz"); err == nil || !strings.Contains(err.Error(), "a.npz: npz: ") {
		t.Errorf("not a zip: error %v", err)
	}
}

func TestParseNPYHeader(t *testing.T) {
	h, err := parseNPYHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (10L, 112, 112,), }")
	if err != nil || h.descr != "<f4" || h.fortran || fmt.Sprint(h.shape) != "[10 112 112]" {
		t.Errorf("got %+v, %v", h, err)
	}
	h, err = parseNPYHeader("{'descr':'|u1','fortran_order':True,'shape':()}")
	if err != nil || !h.fortran || len(h.shape) != 0 {
		t.Errorf("got %+v, %v", h, err)
	}
	for _, s := range []string{"", "{", "{'descr'", "{'descr': '<f4',", "{'shape': (1,,)}", "{'shape': (99999999999999,)}", "{'descr': 'a\\'b'}"} {
		if _, err := parseNPYHeader(s); err == nil {
			t.Errorf("parseNPYHeader(%q): no error", s)
		}
	}
}

func FuzzReadNPY(f *testing.F) {
	f.Add(npyBytes(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 3), }", []byte{1, 2, 3, 4, 5, 6}))
	f.Add(npyBytes(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 3), }", float32Bytes(0, 0.5, 1)))
	f.Add(npyBytes(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }", float32Bytes(0, 200)))
	for _, name := range append(fuzzSeeds(f, "npy"), testdataPath("u8_thw.npy")) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range []io.Reader{bytes.NewReader(data), iotest.HalfReader(bytes.NewReader(data))} {
			v, err := ReadNPY(r, "a.npy")
			if err != nil {
				if v != nil || !strings.HasPrefix(err.Error(), "video: read a.npy: ") {
					t.Fatalf("video %v with error %v", v, err)
				}
				continue
			}
			if err := v.Validate(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
