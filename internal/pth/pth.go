package pth

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"
)

// Tensor is one tensor of a state dict, copied out of its storage in
// row-major order.
type Tensor struct {
	// Name is the state-dict key, e.g. "layer1.0.conv1.weight".
	Name string
	// Shape is the tensor's size; empty for a scalar (0-d) tensor.
	Shape []int
	// Data holds the values converted to float32: float16 and bfloat16
	// exactly, float64 and integers rounded to nearest (even), bool as 0 or 1.
	// Its length is the product of Shape.
	Data []float32
	// DType is torch's element type without the "torch." prefix: "float32",
	// "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8",
	// "uint8" or "bool".
	DType string
	// Ints holds the exact values of int64 and int32 tensors (float32 is
	// exact only up to 2^24 in magnitude); nil for other types.
	Ints []int64
}

// File is the content of one torch.save file.
//
// Tensors that are the same object in the file (tied weights) share Data and
// Ints; copy before modifying one of them.
type File struct {
	// Name is the name given to Read, or the path given to ReadFile.
	Name string
	// Keys are the top-level dict's keys in file order (integer keys in
	// decimal); nil when the top level is not a dict.
	Keys []string
	// Root is the top-level key that Tensors were taken from, or "" when
	// Tensors is the whole file. When the top level is a dict whose values are
	// all tensors or dicts of that kind (a state dict, nested or not), Root is
	// "". Otherwise it is the first of "state_dict", "model_state_dict",
	// "model" and "encoder" whose value is a dict holding tensors; with none
	// of those, Root is "" and Tensors is All. Under picks any other key.
	Root string
	// Tensors is the state dict: the tensors under Root, named relative to
	// it, in file order.
	Tensors []Tensor
	// All is every tensor in the file, named by its dotted path from the top
	// level (for a plain state dict, the same as Tensors).
	All []Tensor
}

// rootKeys are the top-level keys that Read takes the state dict from, in
// order of preference; see File.Root.
var rootKeys = []string{"state_dict", "model_state_dict", "model", "encoder"}

// Lookup returns the tensor of Tensors with the given name.
func (f *File) Lookup(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// Under returns the tensors of All whose names start with prefix followed by
// a dot, with that part of the name removed. Use it to take a state dict from
// a checkpoint key other than Root, e.g. f.Under("teacher") or
// f.Under("model.backbone"). Under("") returns All.
func (f *File) Under(prefix string) []Tensor {
	if prefix == "" {
		return f.All
	}
	var out []Tensor
	for _, t := range f.All {
		if rest, ok := strings.CutPrefix(t.Name, prefix+"."); ok {
			t.Name = rest
			out = append(out, t)
		}
	}
	return out
}

// ReadFile reads a torch.save file from disk; see Read.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pth: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("pth: %w", err)
	}
	return Read(fh, st.Size(), path)
}

// Read reads a torch.save file of size bytes from r; name is used in errors
// and as File.Name.
//
// The file must be in the zip format that torch.save writes since PyTorch
// 1.6. Its pickle is interpreted, never executed: only the globals that a
// state dict needs are accepted, and any other is an error that names it.
// Every size that the pickle claims is checked against the storage entries
// before anything is allocated, and the tensors together may hold at most
// twice as many elements as the file and its storages have bytes (more is
// possible only through stride-0 views or many names for one storage).
func Read(r io.ReaderAt, size int64, name string) (*File, error) {
	rd := &reader{name: name, size: size}
	f, err := rd.read(r)
	if err != nil {
		return nil, fmt.Errorf("pth: read %s: %w", name, err)
	}
	return f, nil
}

// Limits on the value tree, against crafted pickles: nesting depth, and the
// dotted-name bytes that flattening may build per byte of pickle.
const (
	maxDepth        = 64
	nameBytesPerPkl = 16
)

type reader struct {
	name    string
	size    int64
	entries map[string]*zip.File
	prefix  string // the archive folder, with a trailing slash
	order   binary.ByteOrder
	raw     map[string][]byte // storage bytes by key
}

func (rd *reader) read(r io.ReaderAt) (*File, error) {
	if size := rd.size; size < 0 {
		return nil, fmt.Errorf("negative size %d", size)
	}
	zr, err := zip.NewReader(r, rd.size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, notZip(r, rd.size, err)
	}
	if err := rd.index(zr); err != nil {
		return nil, err
	}
	pkl, err := rd.entry(rd.prefix + "data.pkl")
	if err != nil {
		return nil, err
	}
	u := newUnpickler(pkl, rd.persistentLoad)
	top, err := u.run()
	if err != nil {
		return nil, fmt.Errorf("%sdata.pkl: %w", rd.prefix, err)
	}

	fl := &flattener{visits: len(pkl) + 1, nameBytes: nameBytesPerPkl*len(pkl) + 1<<12, onPath: make(map[any]bool)}
	if err := fl.walk(top, "", 0); err != nil {
		return nil, fmt.Errorf("%sdata.pkl: %w", rd.prefix, err)
	}
	f := &File{Name: rd.name, All: make([]Tensor, 0, len(fl.out))}
	if err := rd.materialize(f, fl.out); err != nil {
		return nil, err
	}
	if d, ok := top.(*pyDict); ok {
		f.Keys = make([]string, 0, len(d.keys))
		for _, k := range d.keys {
			s, _ := keyName(k) // checked by walk
			f.Keys = append(f.Keys, s)
		}
	}
	f.Root = pickRoot(top, f.All)
	f.Tensors = f.Under(f.Root)
	return f, nil
}

// notZip explains why a file that is not a zip archive cannot be read.
func notZip(r io.ReaderAt, size int64, err error) error {
	var head [2]byte
	if size >= 2 {
		if _, rerr := r.ReadAt(head[:], 0); rerr == nil && head[0] == 0x80 && head[1] <= maxProtocol {
			return errors.New("legacy (pre-1.6, non-zip) torch.save format is not supported; " +
				"convert it in Python with torch.save(torch.load(path), new_path, _use_new_zipfile_serialization=True)")
		}
	}
	return fmt.Errorf("not a torch.save zip archive: %w", err)
}

// index finds the archive folder (<archive>/data.pkl), its entries and byte order.
func (rd *reader) index(zr *zip.Reader) error {
	rd.entries = make(map[string]*zip.File, len(zr.File))
	var pkls []string
	torchScript := false
	for _, f := range zr.File {
		if _, dup := rd.entries[f.Name]; dup {
			return fmt.Errorf("duplicate zip entry %q", f.Name)
		}
		rd.entries[f.Name] = f
		dir, base, ok := strings.Cut(f.Name, "/")
		if ok && base == "data.pkl" {
			pkls = append(pkls, dir+"/")
		}
		if ok && (base == "constants.pkl" || strings.HasPrefix(base, "code/")) {
			torchScript = true
		}
	}
	if torchScript {
		return errors.New("a TorchScript archive (torch.jit.save) is not a state dict; " +
			"in Python, torch.save(model.state_dict(), path)")
	}
	switch len(pkls) {
	case 0:
		return errors.New("no <archive>/data.pkl entry: not a torch.save file")
	case 1:
		rd.prefix = pkls[0]
	default:
		return fmt.Errorf("%d data.pkl entries (%s...)", len(pkls), strings.Join(pkls[:2], "data.pkl, "))
	}
	rd.order = binary.LittleEndian
	if _, ok := rd.entries[rd.prefix+"byteorder"]; ok {
		b, err := rd.entry(rd.prefix + "byteorder")
		if err != nil {
			return err
		}
		switch s := string(bytes.TrimSpace(b)); s {
		case "little":
		case "big":
			rd.order = binary.BigEndian
		default:
			return fmt.Errorf("%sbyteorder: unknown byte order %q", rd.prefix, s)
		}
	}
	rd.raw = make(map[string][]byte)
	return nil
}

// entryLimits checks that an entry's sizes are ones its bytes in the file can
// give, and returns its uncompressed size.
func (rd *reader) entryLimits(f *zip.File) (int, error) {
	if f.CompressedSize64 > uint64(rd.size) {
		return 0, fmt.Errorf("%s: compressed size %d exceeds the file", f.Name, f.CompressedSize64)
	}
	n := f.UncompressedSize64
	switch f.Method {
	case zip.Store:
		if n != f.CompressedSize64 {
			return 0, fmt.Errorf("%s: stored entry of %d bytes claims %d", f.Name, f.CompressedSize64, n)
		}
	case zip.Deflate:
		// Deflate expands at most 1032:1.
		if n/1032 > f.CompressedSize64 {
			return 0, fmt.Errorf("%s: %d compressed bytes cannot hold %d", f.Name, f.CompressedSize64, n)
		}
	default:
		return 0, fmt.Errorf("%s: unsupported zip compression method %d", f.Name, f.Method)
	}
	if n > math.MaxInt {
		return 0, fmt.Errorf("%s: entry of %d bytes is too large", f.Name, n)
	}
	return int(n), nil
}

// entry reads a whole zip entry, verifying its length and checksum.
func (rd *reader) entry(name string) ([]byte, error) {
	f, ok := rd.entries[name]
	if !ok {
		return nil, fmt.Errorf("no entry %s", name)
	}
	n, err := rd.entryLimits(f)
	if err != nil {
		return nil, err
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer rc.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// Reading on to EOF makes archive/zip check the CRC-32.
	var extra [1]byte
	if k, err := rc.Read(extra[:]); k > 0 || err == nil {
		return nil, fmt.Errorf("%s: longer than its header says", name)
	} else if err != io.EOF {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return buf, nil
}

// persistentLoad resolves ('storage', storage_type, key, location, numel).
func (rd *reader) persistentLoad(pid pyTuple) (any, error) {
	if len(pid) != 5 || pid[0] != "storage" {
		return nil, errors.New("persistent id is not ('storage', type, key, location, numel)")
	}
	var dt dtype
	if g, ok := pid[1].(*pyGlobal); ok && g.module == "torch" {
		dt, ok = storageDTypes[g.name]
		if !ok {
			return nil, fmt.Errorf("persistent id's storage type is %s", typeName(pid[1]))
		}
	} else {
		return nil, fmt.Errorf("persistent id's storage type is %s", typeName(pid[1]))
	}
	key, ok := pid[2].(string)
	if !ok {
		return nil, fmt.Errorf("storage key is %s, not a str", typeName(pid[2]))
	}
	numel, ok := pid[4].(int64)
	if !ok || numel < 0 {
		return nil, fmt.Errorf("storage %q: element count is not a non-negative int", key)
	}
	name := rd.prefix + "data/" + key
	f, ok := rd.entries[name]
	if !ok {
		return nil, fmt.Errorf("storage %q: no entry %s", key, name)
	}
	n, err := rd.entryLimits(f)
	if err != nil {
		return nil, err
	}
	if numel > int64(n/dt.size) {
		return nil, fmt.Errorf("storage %q: %d %s elements claimed but %s holds %d bytes", key, numel, dt.name, name, n)
	}
	return &storageRef{dtype: dt, key: key, numel: numel}, nil
}

// materialize copies every flattened tensor out of its storage.
func (rd *reader) materialize(f *File, refs []namedRef) error {
	// Budget: twice the bytes of the file and of every storage it uses.
	// uses counts the tensors still to read from each storage, so that its
	// bytes are dropped after the last one.
	budget := 2 * rd.size
	uses := make(map[string]int)
	for _, nr := range refs {
		k := nr.t.storage.key
		if uses[k] == 0 {
			n, _ := rd.entryLimits(rd.entries[rd.prefix+"data/"+k]) // checked in persistentLoad
			budget += 2 * int64(n)
		}
		uses[k]++
	}
	done := make(map[*tensorRef]Tensor)
	for _, nr := range refs {
		t, ok := done[nr.t]
		if !ok {
			s := nr.t.storage
			raw, ok := rd.raw[s.key]
			if !ok {
				var err error
				if raw, err = rd.entry(rd.prefix + "data/" + s.key); err != nil {
					return fmt.Errorf("tensor %q: %w", nr.name, err)
				}
				rd.raw[s.key] = raw
			}
			data, ints, err := materialize(nr.t, raw, rd.order, &budget)
			if err != nil {
				return fmt.Errorf("tensor %q: %w", nr.name, err)
			}
			shape := make([]int, len(nr.t.size))
			for i, n := range nr.t.size {
				shape[i] = int(n) // <= the element budget unless another dimension is 0
				if int64(shape[i]) != n {
					return fmt.Errorf("tensor %q: dimension %d does not fit an int", nr.name, n)
				}
			}
			t = Tensor{Shape: shape, Data: data, DType: s.dtype.name, Ints: ints}
			done[nr.t] = t
		}
		if k := nr.t.storage.key; uses[k] == 1 {
			delete(rd.raw, k)
		} else {
			uses[k]--
		}
		t.Name = nr.name
		f.All = append(f.All, t)
	}
	return nil
}

type namedRef struct {
	name string
	t    *tensorRef
}

// flattener lists the tensors of a value tree with dotted names, within
// budgets of visits and name bytes that keep shared or cyclic structures
// from blowing up.
type flattener struct {
	out       []namedRef
	visits    int
	nameBytes int
	onPath    map[any]bool // the dicts and lists being walked, to catch cycles
}

func (fl *flattener) walk(v any, name string, depth int) error {
	if fl.visits--; fl.visits < 0 {
		return errors.New("the pickle shares containers too often to list its tensors")
	}
	if depth > maxDepth {
		return fmt.Errorf("%q: containers nested deeper than %d", name, maxDepth)
	}
	child := func(k string) (string, error) {
		if name == "" {
			return k, nil
		}
		if fl.nameBytes -= len(name) + 1 + len(k); fl.nameBytes < 0 {
			return "", errors.New("tensor names too long for the pickle's size")
		}
		return name + "." + k, nil
	}
	switch v.(type) {
	case *pyDict, *pyList:
		if fl.onPath[v] {
			return fmt.Errorf("%q: a container holds itself", name)
		}
		fl.onPath[v] = true
		defer delete(fl.onPath, v)
	}
	switch v := v.(type) {
	case *tensorRef:
		fl.out = append(fl.out, namedRef{name, v})
	case *pyDict:
		for i, k := range v.keys {
			ks, err := keyName(k)
			if err != nil {
				return fmt.Errorf("%q: %w", name, err)
			}
			c, err := child(ks)
			if err != nil {
				return err
			}
			if err := fl.walk(v.vals[i], c, depth+1); err != nil {
				return err
			}
		}
	case *pyList:
		return fl.walkItems(v.items, child, depth)
	case pyTuple:
		return fl.walkItems(v, child, depth)
	}
	return nil
}

func (fl *flattener) walkItems(items []any, child func(string) (string, error), depth int) error {
	for i, x := range items {
		c, err := child(strconv.Itoa(i))
		if err != nil {
			return err
		}
		if err := fl.walk(x, c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// keyName spells a dict key as a name part.
func keyName(k any) (string, error) {
	switch k := k.(type) {
	case string:
		return k, nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case *big.Int:
		return k.String(), nil
	case bool:
		if k {
			return "True", nil
		}
		return "False", nil
	case nil:
		return "None", nil
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64), nil
	}
	return "", fmt.Errorf("dict key of type %s", typeName(k))
}

// pickRoot chooses the state dict of a checkpoint: the whole top level when
// it is a dict of tensors (nested or not), else the first of rootKeys whose
// value holds tensors, else the whole file.
func pickRoot(top any, all []Tensor) string {
	d, ok := top.(*pyDict)
	if !ok || isTensorDict(d, 0) {
		return ""
	}
	for _, k := range rootKeys {
		j, ok := d.index[k]
		if !ok {
			continue
		}
		if _, ok := d.vals[j].(*pyDict); !ok {
			continue
		}
		for _, t := range all {
			if strings.HasPrefix(t.Name, k+".") {
				return k
			}
		}
	}
	return ""
}

// isTensorDict reports whether every value of d is a tensor or a dict of
// that kind. It runs after walk, which bounded the tree it visits.
func isTensorDict(d *pyDict, depth int) bool {
	if depth > maxDepth {
		return false
	}
	for _, v := range d.vals {
		switch v := v.(type) {
		case *tensorRef:
		case *pyDict:
			if !isTensorDict(v, depth+1) {
				return false
			}
		default:
			return false
		}
	}
	return true
}
