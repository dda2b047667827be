package nn

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadSafetensors checks that ReadSafetensors never panics, that what it
// accepts is consistent, and that writing it back and reading again keeps
// every value. Seeds: testdata/fuzz/FuzzReadSafetensors and the files below.
func FuzzReadSafetensors(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, stRoundTripTensors(), map[string]string{"k": "v"}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	tensors, meta := goSafetensorsValues()
	buf.Reset()
	if err := WriteSafetensors(&buf, tensors, meta); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	if b, err := os.ReadFile(filepath.Join("testdata", "optim", "torch.safetensors")); err == nil {
		f.Add(b)
	}
	f.Add(stFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"__metadata__":null}`, []byte{0, 0x3c, 0, 0xfc}))
	f.Add(stFile(`{"a":{"dtype":"BOOL","shape":[],"data_offsets":[0,1]},"b":{"dtype":"I8","shape":[1,1],"data_offsets":[1,2]}}`, []byte{1, 0xff}))
	f.Add(stFile(`{}`, nil))

	f.Fuzz(func(t *testing.T, b []byte) {
		ck, err := ReadSafetensors(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if ck != nil {
				t.Fatalf("a Checkpoint with error %v", err)
			}
			return
		}
		var total int
		for name, tn := range ck.Tensors {
			d, _, err := denseFloat32s(tn)
			if err != nil {
				t.Fatalf("%q: %v", name, err)
			}
			total += len(d)
			if _, ok := ck.DTypes[name]; !ok {
				t.Fatalf("%q has no dtype", name)
			}
		}
		if total > len(b) {
			t.Fatalf("%d values from a %d-byte file", total, len(b))
		}
		var out bytes.Buffer
		if err := WriteSafetensors(&out, ck.Tensors, ck.Metadata); err != nil {
			return // e.g. a num_batches_tracked that is not an integer
		}
		again, err := ReadSafetensors(bytes.NewReader(out.Bytes()), int64(out.Len()))
		if err != nil {
			t.Fatalf("reading our own output: %v", err)
		}
		if len(again.Tensors) != len(ck.Tensors) || len(again.Metadata) != len(ck.Metadata) {
			t.Fatalf("round trip: %d tensors, %d metadata; want %d, %d", len(again.Tensors), len(again.Metadata), len(ck.Tensors), len(ck.Metadata))
		}
		for k, v := range ck.Metadata {
			if again.Metadata[k] != v {
				t.Fatalf("metadata %q: %q, want %q", k, again.Metadata[k], v)
			}
		}
		for name, tn := range ck.Tensors {
			d, _, _ := denseFloat32s(tn)
			d2, _, err := denseFloat32s(again.Tensors[name])
			if err != nil || len(d2) != len(d) {
				t.Fatalf("%q after round trip: %v, %d values, want %d", name, err, len(d2), len(d))
			}
			for i := range d {
				if math.Float32bits(d[i]) != math.Float32bits(d2[i]) {
					t.Fatalf("%q[%d]: %v after round trip, want %v", name, i, d2[i], d[i])
				}
			}
		}
	})
}
