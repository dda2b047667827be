package gpu

import (
	"fmt"
	"strings"
)

// The elementwise and small reduction kernels are hand-written PTX, compiled
// by the driver's JIT when the CUDA engine starts. Every kernel is a
// one-dimensional grid-stride loop over its first parameter, a count: thread
// i of T handles indices i, i+T, i+2T, ... < count, so any grid size is
// correct. Registers:
//
//	%pa<k>  the k-th parameter when it is a .u64 (counts and pointers;
//	        pointers are converted to global addresses in the prologue)
//	%pf<k>  the k-th parameter when it is an .f32
//	%i      the loop index; %stride the number of threads in the grid
//	%c0..3  the constants 0, 1, log2(e) and ln(2)
//	%rd, %r, %f, %fd, %p  scratch (.b64, .b32, .f32, .f64, .pred)
//
// Float arithmetic uses the .rn forms, which ptxas does not contract into
// fused multiply-adds, so that results follow the Go code of the host engine
// operation by operation (except ex2 and lg2, which are approximations
// accurate to about 2^-22).

// kernelSpec is one kernel: its .entry name, the PTX types of its
// parameters in order, and its loop body.
type kernelSpec struct {
	name   string
	params []string // "u64" or "f32"
	body   string
}

// The parameter lists below are the launch contract: cudaBackend.launch
// checks its arguments against them.
var kernelSpecs = []kernelSpec{
	{"vs_relu", []string{"u64", "u64", "u64"}, reluBody},                                                                       // n, x, y
	{"vs_relu_bwd", []string{"u64", "u64", "u64", "u64"}, reluBwdBody},                                                         // n, y, dy, dx
	{"vs_add", []string{"u64", "u64", "u64", "u64"}, addBody},                                                                  // n, a, b, y
	{"vs_add_relu", []string{"u64", "u64", "u64", "u64"}, addReluBody},                                                         // n, a, b, y
	{"vs_gap", []string{"u64", "u64", "u64", "u64"}, gapBody},                                                                  // planes, size, x, y
	{"vs_gap_bwd", []string{"u64", "u64", "u64", "u64"}, gapBwdBody},                                                           // total, size, dy, dx
	{"vs_bias_rows", []string{"u64", "u64", "u64", "u64"}, biasRowsBody},                                                       // total, cols, y, b
	{"vs_sum_rows", []string{"u64", "u64", "u64", "u64"}, sumRowsBody},                                                         // cols, rows, dy, db
	{"vs_adam", []string{"u64", "u64", "u64", "u64", "u64", "f32", "f32", "f32", "f32", "f32", "f32", "f32", "f32"}, adamBody}, // n, p, g, m, v, b1, 1-b1, b2, 1-b2, wd, eps, -lr/bc1, sqrt(bc2)
	{"vs_sgd", []string{"u64", "u64", "u64", "u64", "f32", "f32", "f32", "f32", "f32", "f32", "f32"}, sgdBody},                 // n, p, g, buf, wd, momentum, 1-dampening, -lr, and the flags (0 or 1) momentum != 0, first, nesterov
	{"vs_nonfinite", []string{"u64", "u64", "u64"}, nonFiniteBody},                                                             // n, x, flag (u32)
}

// ptxTarget returns the .target for a driver version: sm_52 runs on every
// GPU that CUDA 12 supports; CUDA 13 drivers dropped architectures before
// sm_75.
func ptxTarget(driverVersion int) string {
	if driverVersion >= 13000 {
		return "sm_75"
	}
	return "sm_52"
}

// ptxModule returns the PTX text of all kernels for the given target.
func ptxModule(target string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "//\n// vidssl device kernels (package gpu): hand-written PTX.\n//\n.version 7.0\n.target %s\n.address_size 64\n", target)
	for _, k := range kernelSpecs {
		b.WriteString(k.ptx())
	}
	return b.String()
}

// ptx returns the kernel's .entry with the grid-stride prologue and loop.
func (k kernelSpec) ptx() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n.visible .entry %s(\n", k.name)
	for i, t := range k.params {
		sep := ","
		if i == len(k.params)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "\t.param .%s %s_param_%d%s\n", t, k.name, i, sep)
	}
	b.WriteString(")\n{\n")
	b.WriteString("\t.reg .pred %p<8>;\n\t.reg .b32 %r<8>;\n\t.reg .f32 %f<16>;\n\t.reg .f64 %fd<8>;\n\t.reg .b64 %rd<16>;\n")
	b.WriteString("\t.reg .b64 %i, %stride;\n\t.reg .f32 %c<4>;\n")
	fmt.Fprintf(&b, "\t.reg .b64 %%pa<%d>;\n\t.reg .f32 %%pf<%d>;\n\n", len(k.params), len(k.params))
	for i, t := range k.params {
		if t == "u64" {
			fmt.Fprintf(&b, "\tld.param.u64 \t%%pa%d, [%s_param_%d];\n", i, k.name, i)
			if i > 0 {
				fmt.Fprintf(&b, "\tcvta.to.global.u64 \t%%pa%d, %%pa%d;\n", i, i)
			}
		} else {
			fmt.Fprintf(&b, "\tld.param.f32 \t%%pf%d, [%s_param_%d];\n", i, k.name, i)
		}
	}
	b.WriteString(`	mov.f32 	%c0, 0f00000000;
	mov.f32 	%c1, 0f3F800000;
	mov.f32 	%c2, 0f3FB8AA3B;
	mov.f32 	%c3, 0f3F317218;
	mov.u32 	%r0, %ctaid.x;
	mov.u32 	%r1, %ntid.x;
	mov.u32 	%r2, %tid.x;
	mov.u32 	%r3, %nctaid.x;
	mul.wide.u32 	%i, %r0, %r1;
	cvt.u64.u32 	%rd0, %r2;
	add.s64 	%i, %i, %rd0;
	mul.wide.u32 	%stride, %r3, %r1;
`)
	l := "$L_" + k.name
	fmt.Fprintf(&b, "%s_loop:\n\tsetp.ge.u64 \t%%p0, %%i, %%pa0;\n\t@%%p0 bra \t%s_done;\n", l, l)
	b.WriteString(strings.ReplaceAll(k.body, "$L_", l+"_"))
	fmt.Fprintf(&b, "\tadd.s64 \t%%i, %%i, %%stride;\n\tbra.uni \t%s_loop;\n%s_done:\n\tret;\n}\n", l, l)
	return b.String()
}

// Loop bodies. "$L_" in a body is replaced by the kernel's label prefix.

// y[i] = x[i] <= 0 ? 0 : x[i] (a NaN stays NaN, as Go's max and PyTorch's relu).
const reluBody = `	shl.b64 	%rd1, %i, 2;
	add.s64 	%rd2, %pa1, %rd1;
	ld.global.f32 	%f1, [%rd2];
	setp.le.f32 	%p1, %f1, %c0;
	selp.f32 	%f2, %c0, %f1, %p1;
	add.s64 	%rd3, %pa2, %rd1;
	st.global.f32 	[%rd3], %f2;
`

// dx[i] = y[i] > 0 ? dy[i] : 0.
const reluBwdBody = `	shl.b64 	%rd1, %i, 2;
	add.s64 	%rd2, %pa1, %rd1;
	ld.global.f32 	%f1, [%rd2];
	add.s64 	%rd3, %pa2, %rd1;
	ld.global.f32 	%f2, [%rd3];
	setp.gt.f32 	%p1, %f1, %c0;
	selp.f32 	%f3, %f2, %c0, %p1;
	add.s64 	%rd4, %pa3, %rd1;
	st.global.f32 	[%rd4], %f3;
`

// y[i] = a[i] + b[i].
const addBody = `	shl.b64 	%rd1, %i, 2;
	add.s64 	%rd2, %pa1, %rd1;
	ld.global.f32 	%f1, [%rd2];
	add.s64 	%rd3, %pa2, %rd1;
	ld.global.f32 	%f2, [%rd3];
	add.rn.f32 	%f3, %f1, %f2;
	add.s64 	%rd4, %pa3, %rd1;
	st.global.f32 	[%rd4], %f3;
`

// y[i] = relu(a[i] + b[i]).
const addReluBody = `	shl.b64 	%rd1, %i, 2;
	add.s64 	%rd2, %pa1, %rd1;
	ld.global.f32 	%f1, [%rd2];
	add.s64 	%rd3, %pa2, %rd1;
	ld.global.f32 	%f2, [%rd3];
	add.rn.f32 	%f3, %f1, %f2;
	setp.le.f32 	%p1, %f3, %c0;
	selp.f32 	%f4, %c0, %f3, %p1;
	add.s64 	%rd4, %pa3, %rd1;
	st.global.f32 	[%rd4], %f4;
`

// y[i] = mean of x[i*size : (i+1)*size], summed in float64.
const gapBody = `	mul.lo.s64 	%rd1, %i, %pa1;
	shl.b64 	%rd1, %rd1, 2;
	add.s64 	%rd2, %pa2, %rd1;
	mov.f64 	%fd1, 0d0000000000000000;
	mov.u64 	%rd3, 0;
$L_sum:
	setp.ge.u64 	%p1, %rd3, %pa1;
	@%p1 bra 	$L_sum_done;
	ld.global.f32 	%f1, [%rd2];
	cvt.f64.f32 	%fd2, %f1;
	add.rn.f64 	%fd1, %fd1, %fd2;
	add.s64 	%rd2, %rd2, 4;
	add.s64 	%rd3, %rd3, 1;
	bra.uni 	$L_sum;
$L_sum_done:
	cvt.rn.f64.u64 	%fd3, %pa1;
	div.rn.f64 	%fd4, %fd1, %fd3;
	cvt.rn.f32.f64 	%f2, %fd4;
	shl.b64 	%rd4, %i, 2;
	add.s64 	%rd5, %pa3, %rd4;
	st.global.f32 	[%rd5], %f2;
`

// dx[i] = dy[i / size] / size.
const gapBwdBody = `	div.u64 	%rd1, %i, %pa1;
	shl.b64 	%rd1, %rd1, 2;
	add.s64 	%rd2, %pa2, %rd1;
	ld.global.f32 	%f1, [%rd2];
	cvt.rn.f32.u64 	%f2, %pa1;
	div.rn.f32 	%f3, %f1, %f2;
	shl.b64 	%rd3, %i, 2;
	add.s64 	%rd4, %pa3, %rd3;
	st.global.f32 	[%rd4], %f3;
`

// y[i] += b[i % cols].
const biasRowsBody = `	rem.u64 	%rd1, %i, %pa1;
	shl.b64 	%rd1, %rd1, 2;
	add.s64 	%rd2, %pa3, %rd1;
	ld.global.f32 	%f1, [%rd2];
	shl.b64 	%rd3, %i, 2;
	add.s64 	%rd4, %pa2, %rd3;
	ld.global.f32 	%f2, [%rd4];
	add.rn.f32 	%f3, %f2, %f1;
	st.global.f32 	[%rd4], %f3;
`

// db[j] = sum over the rows r of dy[r*cols + j], in float64 (j = %i < cols).
const sumRowsBody = `	shl.b64 	%rd1, %i, 2;
	add.s64 	%rd2, %pa2, %rd1;
	shl.b64 	%rd3, %pa0, 2;
	mov.f64 	%fd1, 0d0000000000000000;
	mov.u64 	%rd4, 0;
$L_sum:
	setp.ge.u64 	%p1, %rd4, %pa1;
	@%p1 bra 	$L_sum_done;
	ld.global.f32 	%f1, [%rd2];
	cvt.f64.f32 	%fd2, %f1;
	add.rn.f64 	%fd1, %fd1, %fd2;
	add.s64 	%rd2, %rd2, %rd3;
	add.s64 	%rd4, %rd4, 1;
	bra.uni 	$L_sum;
$L_sum_done:
	cvt.rn.f32.f64 	%f2, %fd1;
	add.s64 	%rd5, %pa3, %rd1;
	st.global.f32 	[%rd5], %f2;
`

// nn.Adam's update of element i, operation by operation:
//
//	g = fma(p, wd, g) if wd != 0
//	m = fma(g, 1-b1, m*b1)
//	v = v*b2 + ((1-b2)*g)*g
//	p = p + ((-lr/bc1)*m) / (sqrt(v)/sqrt(bc2) + eps)
const adamBody = `	shl.b64 	%rd1, %i, 2;
	add.s64 	%rd2, %pa1, %rd1;
	add.s64 	%rd3, %pa2, %rd1;
	add.s64 	%rd4, %pa3, %rd1;
	add.s64 	%rd5, %pa4, %rd1;
	ld.global.f32 	%f1, [%rd2];
	ld.global.f32 	%f2, [%rd3];
	ld.global.f32 	%f3, [%rd4];
	ld.global.f32 	%f4, [%rd5];
	setp.neu.f32 	%p1, %pf9, %c0;
	@%p1 fma.rn.f32 	%f2, %f1, %pf9, %f2;
	mul.rn.f32 	%f5, %f3, %pf5;
	fma.rn.f32 	%f3, %f2, %pf6, %f5;
	mul.rn.f32 	%f6, %f4, %pf7;
	mul.rn.f32 	%f7, %pf8, %f2;
	mul.rn.f32 	%f7, %f7, %f2;
	add.rn.f32 	%f4, %f6, %f7;
	sqrt.rn.f32 	%f8, %f4;
	div.rn.f32 	%f8, %f8, %pf12;
	add.rn.f32 	%f8, %f8, %pf10;
	mul.rn.f32 	%f9, %pf11, %f3;
	div.rn.f32 	%f9, %f9, %f8;
	add.rn.f32 	%f1, %f1, %f9;
	st.global.f32 	[%rd2], %f1;
	st.global.f32 	[%rd4], %f3;
	st.global.f32 	[%rd5], %f4;
`

// nn.SGD's update of element i, operation by operation:
//
//	d = fma(p, wd, g) if wd != 0, else g
//	with momentum (flag %pf8):
//	    buf = d on the first step (flag %pf9), else fma(d, 1-dampening, buf*momentum)
//	    d = fma(buf, momentum, d) if Nesterov (flag %pf10), else buf
//	p = fma(d, -lr, p)
const sgdBody = `	shl.b64 	%rd1, %i, 2;
	add.s64 	%rd2, %pa1, %rd1;
	add.s64 	%rd3, %pa2, %rd1;
	add.s64 	%rd4, %pa3, %rd1;
	ld.global.f32 	%f1, [%rd2];
	ld.global.f32 	%f2, [%rd3];
	setp.neu.f32 	%p1, %pf4, %c0;
	@%p1 fma.rn.f32 	%f2, %f1, %pf4, %f2;
	setp.neu.f32 	%p2, %pf8, %c0;
	@!%p2 bra 	$L_update;
	setp.neu.f32 	%p3, %pf9, %c0;
	@%p3 bra 	$L_first;
	ld.global.f32 	%f3, [%rd4];
	mul.rn.f32 	%f4, %f3, %pf5;
	fma.rn.f32 	%f3, %f2, %pf6, %f4;
	bra.uni 	$L_stored;
$L_first:
	mov.f32 	%f3, %f2;
$L_stored:
	st.global.f32 	[%rd4], %f3;
	setp.neu.f32 	%p4, %pf10, %c0;
	@%p4 fma.rn.f32 	%f2, %f3, %pf5, %f2;
	@!%p4 mov.f32 	%f2, %f3;
$L_update:
	fma.rn.f32 	%f1, %f2, %pf7, %f1;
	st.global.f32 	[%rd2], %f1;
`

// *flag = 1 if x[i] is NaN or infinite (x - x is then NaN); threads that
// find one all store the same value.
const nonFiniteBody = `	shl.b64 	%rd1, %i, 2;
	add.s64 	%rd2, %pa1, %rd1;
	ld.global.f32 	%f1, [%rd2];
	sub.rn.f32 	%f2, %f1, %f1;
	setp.neu.f32 	%p1, %f2, %c0;
	mov.u32 	%r4, 1;
	@%p1 st.global.u32 	[%pa2], %r4;
`

// kernelByName returns the spec of a kernel.
func kernelByName(name string) (kernelSpec, bool) {
	for _, k := range kernelSpecs {
		if k.name == name {
			return k, true
		}
	}
	return kernelSpec{}, false
}
