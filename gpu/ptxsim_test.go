package gpu

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// A small PTX interpreter for the subset the kernels use, for tests on
// machines without a GPU. It parses a module, checks every instruction's
// operands against the declared register types (PTX's type-compatibility
// rules: same type, bit types of the same size, or signed/unsigned integers
// of the same size), and runs a kernel thread by thread over a fake global
// memory that rejects out-of-bounds and misaligned accesses. Threads of these
// kernels never communicate (except the benign same-value flag store), so
// running them one after another is a faithful schedule.

type simModule struct {
	version, target string
	entries         map[string]*simEntry
	order           []string
}

type simEntry struct {
	name   string
	params []simParam
	regs   map[string]string // register -> declared type
	instrs []simInstr
	labels map[string]int // label -> instruction index
}

type simParam struct{ typ, name string }

type simInstr struct {
	line    string
	pred    string // "" or register, with negate
	negate  bool
	op      []string // opcode split at dots: ["add", "rn", "f32"]
	args    []string
	lineNum int
}

var (
	reEntry   = regexp.MustCompile(`(?s)\.visible\s+\.entry\s+(\w+)\s*\((.*?)\)\s*\{(.*?)\n\}`)
	reParam   = regexp.MustCompile(`\.param\s+\.(\w+)\s+(\w+)`)
	reRegDecl = regexp.MustCompile(`^\.reg\s+\.(\w+)\s+(.+)$`)
	reRange   = regexp.MustCompile(`^(%\w+?)<(\d+)>$`)
	reLabel   = regexp.MustCompile(`^(\$?[A-Za-z_][\w$]*):$`)
)

func parsePTX(src string) (*simModule, error) {
	var lines []string
	for _, l := range strings.Split(src, "\n") {
		if i := strings.Index(l, "//"); i >= 0 {
			l = l[:i]
		}
		lines = append(lines, l)
	}
	text := strings.Join(lines, "\n")
	m := &simModule{entries: map[string]*simEntry{}}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == ".version" {
			m.version = f[1]
		}
		if len(f) == 2 && f[0] == ".target" {
			m.target = f[1]
		}
	}
	for _, match := range reEntry.FindAllStringSubmatch(text, -1) {
		e := &simEntry{name: match[1], regs: map[string]string{}, labels: map[string]int{}}
		for _, p := range reParam.FindAllStringSubmatch(match[2], -1) {
			e.params = append(e.params, simParam{typ: p[1], name: p[2]})
		}
		if err := e.parseBody(match[3]); err != nil {
			return nil, fmt.Errorf("entry %s: %w", e.name, err)
		}
		if _, dup := m.entries[e.name]; dup {
			return nil, fmt.Errorf("entry %s defined twice", e.name)
		}
		m.entries[e.name] = e
		m.order = append(m.order, e.name)
	}
	return m, nil
}

func (e *simEntry) parseBody(body string) error {
	n := 0
	for _, raw := range strings.Split(body, "\n") {
		n++
		l := strings.TrimSpace(raw)
		if l == "" {
			continue
		}
		if m := reLabel.FindStringSubmatch(l); m != nil {
			if _, dup := e.labels[m[1]]; dup {
				return fmt.Errorf("label %s defined twice", m[1])
			}
			e.labels[m[1]] = len(e.instrs)
			continue
		}
		if !strings.HasSuffix(l, ";") {
			return fmt.Errorf("line %d %q does not end with ';'", n, l)
		}
		l = strings.TrimSpace(strings.TrimSuffix(l, ";"))
		if m := reRegDecl.FindStringSubmatch(l); m != nil {
			for _, name := range strings.Split(m[2], ",") {
				name = strings.TrimSpace(name)
				if r := reRange.FindStringSubmatch(name); r != nil {
					k, _ := strconv.Atoi(r[2])
					for i := 0; i < k; i++ {
						e.regs[fmt.Sprintf("%s%d", r[1], i)] = m[1]
					}
					continue
				}
				e.regs[name] = m[1]
			}
			continue
		}
		in := simInstr{line: l, lineNum: n}
		if strings.HasPrefix(l, "@") {
			sp := strings.IndexAny(l, " \t")
			in.pred = l[1:sp]
			if strings.HasPrefix(in.pred, "!") {
				in.negate, in.pred = true, in.pred[1:]
			}
			l = strings.TrimSpace(l[sp:])
		}
		opEnd := strings.IndexAny(l, " \t")
		opcode := l
		rest := ""
		if opEnd >= 0 {
			opcode, rest = l[:opEnd], strings.TrimSpace(l[opEnd:])
		}
		in.op = strings.Split(opcode, ".")
		if rest != "" {
			for _, a := range strings.Split(rest, ",") {
				in.args = append(in.args, strings.TrimSpace(a))
			}
		}
		e.instrs = append(e.instrs, in)
	}
	return e.typeCheck()
}

// typeSize returns the bit size of a PTX type.
func typeSize(t string) int {
	if t == "pred" {
		return 1
	}
	n, _ := strconv.Atoi(t[1:])
	return n
}

// compatible reports whether a register of type decl may be an operand of
// type want.
func compatible(decl, want string) bool {
	if decl == want {
		return true
	}
	if decl == "pred" || want == "pred" {
		return false
	}
	if typeSize(decl) != typeSize(want) {
		return false
	}
	if decl[0] == 'b' || want[0] == 'b' {
		return true
	}
	return (decl[0] == 'u' || decl[0] == 's') && (want[0] == 'u' || want[0] == 's')
}

var specialRegs = map[string]bool{"%ctaid.x": true, "%ntid.x": true, "%tid.x": true, "%nctaid.x": true}

// operandTypes returns the type each operand of an instruction must have
// ("" for operands that are not typed registers: labels, addresses).
func (in simInstr) operandTypes() ([]string, error) {
	op := in.op
	last := op[len(op)-1]
	all := func(t string) []string {
		ts := make([]string, len(in.args))
		for i := range ts {
			ts[i] = t
		}
		return ts
	}
	switch op[0] {
	case "mov", "add", "sub", "div", "rem", "max", "min", "abs", "neg", "sqrt", "ex2", "lg2", "fma":
		return all(last), nil
	case "mul":
		if op[1] == "wide" {
			return []string{fmt.Sprintf("%c%d", last[0], 2*typeSize(last)), last, last}, nil
		}
		return all(last), nil
	case "shl", "shr":
		return []string{last, last, "u32"}, nil
	case "setp":
		return []string{"pred", last, last}, nil
	case "selp":
		return []string{last, last, last, "pred"}, nil
	case "cvt":
		return []string{op[len(op)-2], last}, nil
	case "cvta":
		return []string{last, last}, nil
	case "ld":
		return []string{last, ""}, nil
	case "st":
		return []string{"", last}, nil
	case "bra", "ret":
		return make([]string, len(in.args)), nil
	}
	return nil, fmt.Errorf("unknown instruction %q", in.line)
}

func (e *simEntry) typeCheck() error {
	for _, in := range e.instrs {
		types, err := in.operandTypes()
		if err != nil {
			return err
		}
		if len(types) != len(in.args) {
			return fmt.Errorf("%q: %d operands, want %d", in.line, len(in.args), len(types))
		}
		if in.pred != "" && e.regs[in.pred] != "pred" {
			return fmt.Errorf("%q: guard %s is not a declared predicate", in.line, in.pred)
		}
		for i, a := range in.args {
			if strings.HasPrefix(a, "[") {
				inner := strings.Trim(a, "[]")
				if in.op[0] == "ld" && in.op[1] == "param" {
					if !e.hasParam(inner) {
						return fmt.Errorf("%q: no parameter %s", in.line, inner)
					}
					continue
				}
				if t, ok := e.regs[inner]; !ok || !compatible(t, "u64") {
					return fmt.Errorf("%q: address %s is not a 64-bit register", in.line, inner)
				}
				continue
			}
			if in.op[0] == "bra" {
				if _, ok := e.labels[a]; !ok {
					return fmt.Errorf("%q: undefined label %s", in.line, a)
				}
				continue
			}
			if !strings.HasPrefix(a, "%") {
				continue // immediate
			}
			want := types[i]
			decl, ok := e.regs[a]
			if specialRegs[a] {
				decl, ok = "u32", true
			}
			if !ok {
				return fmt.Errorf("%q: undeclared register %s", in.line, a)
			}
			if want != "" && !compatible(decl, want) {
				return fmt.Errorf("%q: %s is .%s, the instruction wants .%s", in.line, a, decl, want)
			}
		}
	}
	return nil
}

func (e *simEntry) hasParam(name string) bool {
	for _, p := range e.params {
		if p.name == name {
			return true
		}
	}
	return false
}

// simMemory is fake global memory: allocations of 32-bit words at distinct
// 4 GiB-aligned bases.
type simMemory struct{ allocs [][]uint32 }

func (m *simMemory) alloc(words []uint32) uint64 {
	m.allocs = append(m.allocs, words)
	return uint64(len(m.allocs)) << 32
}

func (m *simMemory) allocF32(v []float32) uint64 {
	w := make([]uint32, len(v))
	for i, x := range v {
		w[i] = math.Float32bits(x)
	}
	return m.alloc(w)
}

func (m *simMemory) f32s(addr uint64) []float32 {
	w := m.allocs[(addr>>32)-1]
	out := make([]float32, len(w))
	for i, x := range w {
		out[i] = math.Float32frombits(x)
	}
	return out
}

func (m *simMemory) word(addr uint64) (*uint32, error) {
	k := int(addr>>32) - 1
	off := addr & 0xFFFFFFFF
	if k < 0 || k >= len(m.allocs) || off%4 != 0 || int(off/4) >= len(m.allocs[k]) {
		return nil, fmt.Errorf("bad global access at %#x", addr)
	}
	return &m.allocs[k][off/4], nil
}

// simRun runs kernel name of module m with params (one 64-bit slot each, as
// cudaBackend.launch passes them) on a grid of grid x block threads.
func simRun(m *simModule, name string, grid, block int, mem *simMemory, params []uint64) error {
	e, ok := m.entries[name]
	if !ok {
		return fmt.Errorf("no entry %s", name)
	}
	if len(params) != len(e.params) {
		return fmt.Errorf("%s: %d params, want %d", name, len(params), len(e.params))
	}
	pv := map[string]uint64{}
	for i, p := range e.params {
		pv[p.name] = params[i]
	}
	for b := 0; b < grid; b++ {
		for t := 0; t < block; t++ {
			special := map[string]uint64{"%ctaid.x": uint64(b), "%ntid.x": uint64(block), "%tid.x": uint64(t), "%nctaid.x": uint64(grid)}
			if err := e.runThread(mem, pv, special); err != nil {
				return fmt.Errorf("%s block %d thread %d: %w", name, b, t, err)
			}
		}
	}
	return nil
}

func (e *simEntry) runThread(mem *simMemory, params, special map[string]uint64) error {
	regs := map[string]uint64{}
	val := func(a, typ string) (uint64, error) {
		if v, ok := special[a]; ok {
			return v, nil
		}
		if strings.HasPrefix(a, "%") {
			v, ok := regs[a]
			if !ok {
				return 0, fmt.Errorf("read of unset register %s", a)
			}
			return v, nil
		}
		switch {
		case strings.HasPrefix(a, "0f"):
			v, err := strconv.ParseUint(a[2:], 16, 32)
			return v, err
		case strings.HasPrefix(a, "0d"):
			return strconv.ParseUint(a[2:], 16, 64)
		}
		v, err := strconv.ParseInt(a, 10, 64)
		if typ == "f32" || typ == "f64" {
			return 0, fmt.Errorf("integer immediate %s for a float operand", a)
		}
		return uint64(v), err
	}
	f32 := func(u uint64) float32 { return math.Float32frombits(uint32(u)) }
	b32 := func(f float32) uint64 { return uint64(math.Float32bits(f)) }
	f64 := math.Float64frombits
	b64 := math.Float64bits
	for pc, steps := 0, 0; ; steps++ {
		if steps > 1<<22 {
			return fmt.Errorf("runaway loop")
		}
		if pc >= len(e.instrs) {
			return fmt.Errorf("fell off the end")
		}
		in := e.instrs[pc]
		pc++
		if in.pred != "" {
			p := regs[in.pred] != 0
			if p == in.negate {
				continue
			}
		}
		op, last := in.op, in.op[len(in.op)-1]
		a := in.args
		src := func(i int) (uint64, error) { return val(a[i], last) }
		var x, y, z uint64
		var err error
		if n := len(a); n >= 2 && op[0] != "ld" && op[0] != "st" && op[0] != "bra" {
			if x, err = val(a[1], srcType(in, 1)); err != nil {
				return fmt.Errorf("%q: %w", in.line, err)
			}
			if n >= 3 {
				if y, err = val(a[2], srcType(in, 2)); err != nil {
					return fmt.Errorf("%q: %w", in.line, err)
				}
			}
			if n >= 4 {
				if z, err = val(a[3], srcType(in, 3)); err != nil {
					return fmt.Errorf("%q: %w", in.line, err)
				}
			}
		}
		_ = src
		var d uint64
		switch op[0] {
		case "ret":
			return nil
		case "bra":
			pc = e.labels[a[0]]
			continue
		case "ld":
			addr := strings.Trim(a[1], "[]")
			if op[1] == "param" {
				regs[a[0]] = params[addr]
				continue
			}
			w, err := mem.word(regs[addr])
			if err != nil {
				return fmt.Errorf("%q: %w", in.line, err)
			}
			regs[a[0]] = uint64(*w)
			continue
		case "st":
			w, err := mem.word(regs[strings.Trim(a[0], "[]")])
			if err != nil {
				return fmt.Errorf("%q: %w", in.line, err)
			}
			v, err := val(a[1], last)
			if err != nil {
				return err
			}
			*w = uint32(v)
			continue
		case "mov", "cvta":
			d = x
		case "cvt":
			dt, st := op[len(op)-2], last
			switch {
			case dt == "u64" && st == "u32":
				d = uint64(uint32(x))
			case dt == "f64" && st == "f32":
				d = b64(float64(f32(x)))
			case dt == "f32" && st == "f64":
				d = b32(float32(f64(x)))
			case dt == "f32" && st == "u64":
				d = b32(float32(x))
			case dt == "f64" && st == "u64":
				d = b64(float64(x))
			case dt == "u64" && st == "f32":
				d = uint64(math.Trunc(float64(f32(x))))
			default:
				return fmt.Errorf("%q: unsupported cvt", in.line)
			}
		case "add", "sub", "mul", "div", "rem", "max", "min":
			if op[0] == "mul" && op[1] == "wide" {
				d = uint64(uint32(x)) * uint64(uint32(y))
				break
			}
			switch last {
			case "f32":
				p, q := f32(x), f32(y)
				var r float32
				switch op[0] {
				case "add":
					r = p + q
				case "sub":
					r = p - q
				case "mul":
					r = p * q
				case "div":
					r = p / q
				case "max":
					r = ptxMax(p, q)
				default:
					return fmt.Errorf("%q: unsupported", in.line)
				}
				d = b32(r)
			case "f64":
				p, q := f64(x), f64(y)
				switch op[0] {
				case "add":
					d = b64(p + q)
				case "div":
					d = b64(p / q)
				default:
					return fmt.Errorf("%q: unsupported", in.line)
				}
			default: // 64-bit integers
				switch op[0] {
				case "add":
					d = x + y
				case "sub":
					d = x - y
				case "mul":
					d = x * y
				case "div":
					if y == 0 {
						return fmt.Errorf("%q: division by zero", in.line)
					}
					d = x / y
				case "rem":
					if y == 0 {
						return fmt.Errorf("%q: division by zero", in.line)
					}
					d = x % y
				default:
					return fmt.Errorf("%q: unsupported", in.line)
				}
			}
		case "shl":
			d = x << y
		case "setp":
			var r bool
			cmp := op[1]
			if last == "f32" {
				p, q := f32(x), f32(y)
				nan := p != p || q != q
				switch cmp {
				case "eq":
					r = p == q
				case "neu":
					r = p != q || nan
				case "le":
					r = p <= q
				case "lt":
					r = p < q
				case "ge":
					r = p >= q
				case "gt":
					r = p > q
				default:
					return fmt.Errorf("%q: unsupported comparison", in.line)
				}
			} else {
				switch cmp {
				case "eq":
					r = x == y
				case "ge":
					r = x >= y
				case "lt":
					r = x < y
				default:
					return fmt.Errorf("%q: unsupported comparison", in.line)
				}
			}
			if r {
				d = 1
			}
		case "selp":
			if z != 0 {
				d = x
			} else {
				d = y
			}
		case "abs":
			d = b32(float32(math.Abs(float64(f32(x)))))
		case "neg":
			d = b32(-f32(x))
		case "sqrt":
			d = b32(float32(math.Sqrt(float64(f32(x)))))
		case "ex2":
			d = b32(float32(math.Exp2(float64(f32(x)))))
		case "lg2":
			d = b32(float32(math.Log2(float64(f32(x)))))
		case "fma":
			d = b32(float32(math.FMA(float64(f32(x)), float64(f32(y)), float64(f32(z)))))
		default:
			return fmt.Errorf("%q: unsupported instruction", in.line)
		}
		regs[a[0]] = d
	}
}

// srcType is the type of source operand i of an instruction, for immediates.
func srcType(in simInstr, i int) string {
	ts, err := in.operandTypes()
	if err != nil || i >= len(ts) {
		return ""
	}
	return ts[i]
}

// ptxMax is max.f32: the other operand when one is NaN.
func ptxMax(p, q float32) float32 {
	switch {
	case p != p:
		return q
	case q != q:
		return p
	case p > q:
		return p
	}
	return q
}
