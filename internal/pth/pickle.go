package pth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
)

// This file is a small pickle virtual machine. It builds plain values (None,
// bools, ints, floats, strings, bytes, tuples, lists, dicts) and the few torch
// objects a state dict holds; it never runs code. GLOBAL names resolve only
// through the allow-list below, and REDUCE calls only those names, by
// interpreting their arguments here.
//
// Everything it allocates is bounded by the pickle's length: strings and
// bytes are checked against the bytes left before they are copied, the stack,
// the memo and containers grow by at most one slot per opcode, and the
// work spent hashing dict keys is capped at a multiple of the input length.

// Pickle values other than Go's nil, bool, int64, *big.Int, float64 and string.
type (
	pyBytes  string // bytes and bytearray, kept apart from str
	pyTuple  []any
	pyList   struct{ items []any }
	pyGlobal struct{ module, name string }
	pyDict   struct {
		keys, vals []any
		index      map[any]int
	}
)

// dict key forms that keep key types apart in pyDict.index.
type (
	bigKey   string
	bytesKey string
	tupleKey string
)

// storageRef is a persistent id: one storage in <archive>/data/<key>.
type storageRef struct {
	dtype dtype
	key   string
	numel int64
}

// tensorRef is what _rebuild_tensor_v2 returns: a view of a storage.
type tensorRef struct {
	storage      *storageRef
	offset       int64
	size, stride []int64
}

// globalKind says what an allowed global does when called.
type globalKind int

const (
	globalOrderedDict globalKind = iota
	globalRebuildTensor
	globalRebuildParameter
	globalRebuildParameterWithState
	globalStorage
)

var allowedGlobals = map[string]globalKind{
	"collections.OrderedDict":                    globalOrderedDict,
	"torch._utils._rebuild_tensor_v2":            globalRebuildTensor,
	"torch._utils._rebuild_parameter":            globalRebuildParameter,
	"torch._utils._rebuild_parameter_with_state": globalRebuildParameterWithState,
	"torch.FloatStorage":                         globalStorage,
	"torch.HalfStorage":                          globalStorage,
	"torch.BFloat16Storage":                      globalStorage,
	"torch.DoubleStorage":                        globalStorage,
	"torch.LongStorage":                          globalStorage,
	"torch.IntStorage":                           globalStorage,
	"torch.ShortStorage":                         globalStorage,
	"torch.CharStorage":                          globalStorage,
	"torch.ByteStorage":                          globalStorage,
	"torch.BoolStorage":                          globalStorage,
}

const (
	maxKeyDepth = 8 // nesting of tuples used as dict keys
	maxProtocol = 5
)

// unpickler runs one pickle.
type unpickler struct {
	data   []byte
	pos    int
	stack  []any
	marks  []int
	memo   map[uint64]any
	work   int // bytes spent hashing dict keys
	budget int
	// persistentLoad resolves a BINPERSID id.
	persistentLoad func(pid pyTuple) (any, error)
}

func newUnpickler(data []byte, persistentLoad func(pyTuple) (any, error)) *unpickler {
	return &unpickler{
		data:           data,
		memo:           make(map[uint64]any),
		budget:         64*len(data) + 1<<16,
		persistentLoad: persistentLoad,
	}
}

// pickleError locates an error at an opcode.
type pickleError struct {
	pos int
	op  byte
	err error
}

func (e *pickleError) Error() string {
	return fmt.Sprintf("byte %d, opcode 0x%02x: %v", e.pos, e.op, e.err)
}

func (e *pickleError) Unwrap() error { return e.err }

var errTruncated = errors.New("pickle ends early")

// run executes opcodes up to STOP and returns the value left on the stack.
func (u *unpickler) run() (any, error) {
	for {
		if u.pos >= len(u.data) {
			return nil, &pickleError{pos: u.pos, err: errors.New("pickle ends without STOP")}
		}
		start, op := u.pos, u.data[u.pos]
		u.pos++
		v, done, err := u.step(op)
		if err != nil {
			return nil, &pickleError{pos: start, op: op, err: err}
		}
		if done {
			return v, nil
		}
	}
}

// bytes returns the next n bytes of the pickle without copying them.
func (u *unpickler) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, errTruncated
	}
	b := u.data[u.pos : u.pos+int(n)]
	u.pos += int(n)
	return b, nil
}

func (u *unpickler) uint(n int) (uint64, error) {
	b, err := u.bytes(uint64(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// line reads up to and past the next newline.
func (u *unpickler) line() (string, error) {
	for i := u.pos; i < len(u.data); i++ {
		if u.data[i] == '\n' {
			s := string(u.data[u.pos:i])
			u.pos = i + 1
			return s, nil
		}
	}
	return "", errTruncated
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	n := len(u.stack)
	if n == 0 || (len(u.marks) > 0 && u.marks[len(u.marks)-1] == n) {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[n-1]
	u.stack = u.stack[:n-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	n := len(u.stack)
	if n == 0 || (len(u.marks) > 0 && u.marks[len(u.marks)-1] == n) {
		return nil, errors.New("stack underflow")
	}
	return u.stack[n-1], nil
}

// popMark removes and returns the items above the topmost mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := make([]any, len(u.stack)-m)
	copy(items, u.stack[m:])
	clear(u.stack[m:])
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) step(op byte) (v any, done bool, err error) {
	switch op {
	case 0x80: // PROTO
		p, err := u.uint(1)
		if err != nil {
			return nil, false, err
		}
		if p > maxProtocol {
			return nil, false, fmt.Errorf("unsupported pickle protocol %d", p)
		}
	case 0x95: // FRAME: a length hint only
		if _, err := u.uint(8); err != nil {
			return nil, false, err
		}
	case '.': // STOP
		v, err := u.pop()
		return v, err == nil, err
	case '(': // MARK
		u.marks = append(u.marks, len(u.stack))
	case '0': // POP
		_, err = u.pop()
	case '1': // POP_MARK
		_, err = u.popMark()
	case '2': // DUP
		v, err = u.top()
		if err == nil {
			u.push(v)
		}
	case 'N':
		u.push(nil)
	case 0x88: // NEWTRUE
		u.push(true)
	case 0x89: // NEWFALSE
		u.push(false)
	case 'J': // BININT
		var x uint64
		x, err = u.uint(4)
		u.push(int64(int32(uint32(x))))
	case 'K': // BININT1
		var x uint64
		x, err = u.uint(1)
		u.push(int64(x))
	case 'M': // BININT2
		var x uint64
		x, err = u.uint(2)
		u.push(int64(x))
	case 0x8a: // LONG1
		var n uint64
		if n, err = u.uint(1); err == nil {
			err = u.long(n)
		}
	case 0x8b: // LONG4
		var n uint64
		if n, err = u.uint(4); err == nil {
			if int32(uint32(n)) < 0 {
				return nil, false, errors.New("negative LONG4 length")
			}
			err = u.long(n)
		}
	case 'G': // BINFLOAT, big-endian
		var b []byte
		if b, err = u.bytes(8); err == nil {
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
	case 'X', 0x8c, 0x8d, 'T', 'U': // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING
		var b []byte
		if b, err = u.counted(op); err == nil {
			u.push(string(b))
		}
	case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		var b []byte
		if b, err = u.counted(op); err == nil {
			u.push(pyBytes(b))
		}
	case '}': // EMPTY_DICT
		u.push(newDict())
	case ']': // EMPTY_LIST
		u.push(&pyList{})
	case ')': // EMPTY_TUPLE
		u.push(pyTuple{})
	case 't': // TUPLE
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(pyTuple(items))
		}
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		n := int(op-0x85) + 1
		if len(u.stack) < n || (len(u.marks) > 0 && u.marks[len(u.marks)-1] > len(u.stack)-n) {
			return nil, false, errors.New("stack underflow")
		}
		t := make(pyTuple, n)
		copy(t, u.stack[len(u.stack)-n:])
		clear(u.stack[len(u.stack)-n:])
		u.stack = u.stack[:len(u.stack)-n]
		u.push(t)
	case 'l': // LIST
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(&pyList{items: items})
		}
	case 'd': // DICT
		var items []any
		if items, err = u.popMark(); err == nil {
			d := newDict()
			err = u.setItems(d, items)
			u.push(d)
		}
	case 'a': // APPEND
		var x, l any
		if x, err = u.pop(); err == nil {
			if l, err = u.top(); err == nil {
				err = appendTo(l, x)
			}
		}
	case 'e': // APPENDS
		var items []any
		var l any
		if items, err = u.popMark(); err == nil {
			if l, err = u.top(); err == nil {
				err = appendTo(l, items...)
			}
		}
	case 's': // SETITEM
		var k, x, d any
		if x, err = u.pop(); err != nil {
			return nil, false, err
		}
		if k, err = u.pop(); err != nil {
			return nil, false, err
		}
		if d, err = u.top(); err == nil {
			err = u.setItems(d, []any{k, x})
		}
	case 'u': // SETITEMS
		var items []any
		var d any
		if items, err = u.popMark(); err == nil {
			if d, err = u.top(); err == nil {
				err = u.setItems(d, items)
			}
		}
	case 'q', 'r': // BINPUT, LONG_BINPUT
		var i uint64
		if i, err = u.uint(argWidth(op)); err == nil {
			if v, err = u.top(); err == nil {
				u.memo[i] = v
			}
		}
	case 0x94: // MEMOIZE
		if v, err = u.top(); err == nil {
			u.memo[uint64(len(u.memo))] = v
		}
	case 'h', 'j': // BINGET, LONG_BINGET
		var i uint64
		if i, err = u.uint(argWidth(op)); err == nil {
			var ok bool
			if v, ok = u.memo[i]; !ok {
				return nil, false, fmt.Errorf("memo %d is not set", i)
			}
			u.push(v)
		}
	case 'c': // GLOBAL
		var module, name string
		if module, err = u.line(); err != nil {
			return nil, false, err
		}
		if name, err = u.line(); err != nil {
			return nil, false, err
		}
		v, err = global(module, name)
		u.push(v)
	case 0x93: // STACK_GLOBAL
		var m, n any
		if n, err = u.pop(); err != nil {
			return nil, false, err
		}
		if m, err = u.pop(); err != nil {
			return nil, false, err
		}
		module, ok1 := m.(string)
		name, ok2 := n.(string)
		if !ok1 || !ok2 {
			return nil, false, errors.New("STACK_GLOBAL needs two strings")
		}
		v, err = global(module, name)
		u.push(v)
	case 'R': // REDUCE
		var f, args any
		if args, err = u.pop(); err != nil {
			return nil, false, err
		}
		if f, err = u.pop(); err != nil {
			return nil, false, err
		}
		v, err = reduce(f, args)
		u.push(v)
	case 0x81: // NEWOBJ: cls.__new__(cls, *args)
		var cls, args any
		if args, err = u.pop(); err != nil {
			return nil, false, err
		}
		if cls, err = u.pop(); err != nil {
			return nil, false, err
		}
		v, err = newObject(cls, args)
		u.push(v)
	case 0x92: // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
		var cls, args, kwargs any
		if kwargs, err = u.pop(); err != nil {
			return nil, false, err
		}
		if args, err = u.pop(); err != nil {
			return nil, false, err
		}
		if cls, err = u.pop(); err != nil {
			return nil, false, err
		}
		if d, ok := kwargs.(*pyDict); !ok || len(d.keys) > 0 {
			return nil, false, errors.New("NEWOBJ_EX with keyword arguments")
		}
		v, err = newObject(cls, args)
		u.push(v)
	case 'b': // BUILD
		var state, obj any
		if state, err = u.pop(); err != nil {
			return nil, false, err
		}
		if obj, err = u.top(); err != nil {
			return nil, false, err
		}
		// An OrderedDict's attributes (a state dict's _metadata) are not
		// needed: drop them. Nothing else here takes a state.
		if _, ok := obj.(*pyDict); !ok {
			return nil, false, fmt.Errorf("BUILD on %s", typeName(obj))
		}
		_ = state
	case 'Q': // BINPERSID
		var pid any
		if pid, err = u.pop(); err != nil {
			return nil, false, err
		}
		t, ok := pid.(pyTuple)
		if !ok {
			return nil, false, fmt.Errorf("persistent id is %s, not a tuple", typeName(pid))
		}
		v, err = u.persistentLoad(t)
		u.push(v)
	default:
		return nil, false, fmt.Errorf("unsupported pickle opcode %s", strconv.QuoteRune(rune(op)))
	}
	return nil, false, err
}

// counted reads a length-prefixed string or bytes argument.
func (u *unpickler) counted(op byte) ([]byte, error) {
	n, err := u.uint(argWidth(op))
	if err != nil {
		return nil, err
	}
	if op == 'T' && int32(uint32(n)) < 0 {
		return nil, errors.New("negative BINSTRING length")
	}
	return u.bytes(n)
}

// argWidth is the byte width of an opcode's length or memo-index argument.
func argWidth(op byte) int {
	switch op {
	case 'q', 'h', 0x8c, 'U', 'C':
		return 1
	case 'r', 'j', 'X', 'T', 'B':
		return 4
	}
	return 8 // BINUNICODE8, BINBYTES8, BYTEARRAY8
}

// long pushes an n-byte little-endian two's-complement integer, as int64
// when it fits.
func (u *unpickler) long(n uint64) error {
	b, err := u.bytes(n)
	if err != nil {
		return err
	}
	if n <= 8 {
		var x uint64
		for i := len(b) - 1; i >= 0; i-- {
			x = x<<8 | uint64(b[i])
		}
		if n > 0 && n < 8 && b[n-1]&0x80 != 0 {
			x |= ^uint64(0) << (8 * n) // sign-extend
		}
		u.push(int64(x))
		return nil
	}
	be := make([]byte, n)
	for i, c := range b {
		be[len(be)-1-i] = c
	}
	x := new(big.Int).SetBytes(be)
	if b[n-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	if x.IsInt64() {
		u.push(x.Int64())
	} else {
		u.push(x)
	}
	return nil
}

func newDict() *pyDict { return &pyDict{index: make(map[any]int)} }

func appendTo(l any, items ...any) error {
	list, ok := l.(*pyList)
	if !ok {
		return fmt.Errorf("APPEND to %s", typeName(l))
	}
	list.items = append(list.items, items...)
	return nil
}

// setItems stores key, value pairs into d, as SETITEM(S) and DICT do.
func (u *unpickler) setItems(d any, items []any) error {
	dict, ok := d.(*pyDict)
	if !ok {
		return fmt.Errorf("SETITEM on %s", typeName(d))
	}
	if len(items)%2 != 0 {
		return errors.New("SETITEMS with an odd number of items")
	}
	for i := 0; i < len(items); i += 2 {
		h, err := u.hashKey(items[i], 0)
		if err != nil {
			return err
		}
		if j, ok := dict.index[h]; ok {
			dict.vals[j] = items[i+1]
			continue
		}
		dict.index[h] = len(dict.keys)
		dict.keys = append(dict.keys, items[i])
		dict.vals = append(dict.vals, items[i+1])
	}
	return nil
}

// hashKey maps a dict key to a comparable Go value, charging the bytes it
// hashes against u.budget so that crafted keys cannot make dict building
// quadratic.
func (u *unpickler) hashKey(k any, depth int) (any, error) {
	var cost int
	var h any
	switch k := k.(type) {
	case nil, bool, int64, float64:
		cost, h = 8, k
	case string:
		cost, h = len(k), k
	case pyBytes:
		cost, h = len(k), bytesKey(k)
	case *big.Int:
		if k.BitLen() > 1024 {
			return nil, errors.New("int dict key too large")
		}
		cost, h = 128, bigKey(k.String())
	case pyTuple:
		if depth >= maxKeyDepth {
			return nil, errors.New("dict key nested too deeply")
		}
		// Type-tagged, length-prefixed parts keep different tuples apart.
		var b []byte
		for _, x := range k {
			hx, err := u.hashKey(x, depth+1)
			if err != nil {
				return nil, err
			}
			s := fmt.Sprintf("%T:%v", hx, hx)
			b = strconv.AppendInt(b, int64(len(s)), 10)
			b = append(b, ':')
			b = append(b, s...)
		}
		cost, h = len(b), tupleKey(b)
	default:
		return nil, fmt.Errorf("unhashable dict key of type %s", typeName(k))
	}
	u.work += cost
	if u.work > u.budget {
		return nil, errors.New("pickle spends too long hashing dict keys")
	}
	return h, nil
}

func global(module, name string) (any, error) {
	full := module + "." + name
	if _, ok := allowedGlobals[full]; !ok {
		return nil, fmt.Errorf("global %q is not allowed: pth reads state dicts "+
			"(tensors in dicts, lists and tuples, and plain values), not other pickled Python objects", full)
	}
	return &pyGlobal{module: module, name: name}, nil
}

// reduce calls an allowed global f with args.
func reduce(f, args any) (any, error) {
	g, ok := f.(*pyGlobal)
	if !ok {
		return nil, fmt.Errorf("REDUCE calls %s, not an allowed global", typeName(f))
	}
	a, ok := args.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("REDUCE arguments are %s, not a tuple", typeName(args))
	}
	full := g.module + "." + g.name
	switch allowedGlobals[full] {
	case globalOrderedDict:
		if len(a) != 0 {
			return nil, fmt.Errorf("%s called with %d arguments", full, len(a))
		}
		return newDict(), nil
	case globalRebuildTensor:
		return rebuildTensor(a)
	case globalRebuildParameter, globalRebuildParameterWithState:
		want := 3
		if allowedGlobals[full] == globalRebuildParameterWithState {
			want = 4
		}
		if len(a) != want {
			return nil, fmt.Errorf("%s called with %d arguments, want %d", full, len(a), want)
		}
		t, ok := a[0].(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("%s called on %s, not a tensor", full, typeName(a[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("%s cannot be called here", full)
}

func newObject(cls, args any) (any, error) {
	g, ok := cls.(*pyGlobal)
	if !ok {
		return nil, fmt.Errorf("NEWOBJ of %s, not a class", typeName(cls))
	}
	if a, ok := args.(pyTuple); ok && len(a) == 0 && allowedGlobals[g.module+"."+g.name] == globalOrderedDict {
		return newDict(), nil
	}
	return nil, fmt.Errorf("cannot create %s.%s objects", g.module, g.name)
}

// rebuildTensor interprets torch._utils._rebuild_tensor_v2(storage,
// storage_offset, size, stride, requires_grad, backward_hooks[, metadata]).
func rebuildTensor(a pyTuple) (any, error) {
	if len(a) != 6 && len(a) != 7 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 called with %d arguments, want 6 or 7", len(a))
	}
	s, ok := a[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2 storage is %s", typeName(a[0]))
	}
	offset, ok := a[1].(int64)
	if !ok || offset < 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 storage offset is not a non-negative int")
	}
	size, err := ints(a[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := ints(a[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor_v2 has %d sizes but %d strides", len(size), len(stride))
	}
	return &tensorRef{storage: s, offset: offset, size: size, stride: stride}, nil
}

// ints reads a tuple of non-negative ints.
func ints(v any, what string) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("tensor %s is %s, not a tuple", what, typeName(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("tensor %s %d is not a non-negative int", what, i)
		}
		out[i] = n
	}
	return out, nil
}

// typeName names a pickle value's Python type for error messages.
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyBytes:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case *pyGlobal:
		return v.module + "." + v.name
	case *storageRef:
		return "storage"
	case *tensorRef:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}
