package contrastive

import (
	"fmt"
	"hash"
	"math"

	"github.com/chewxy/hm"
	"github.com/vidssl/vidssl/internal/gop"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Tau is the paper's NT-Xent temperature.
const Tau = 0.05

// normEps is the smallest norm an embedding is divided by, as in
// torch.nn.CosineSimilarity's default eps.
const normEps = 1e-8

// NTXent returns the NT-Xent loss (normalised temperature-scaled cross
// entropy, SimCLR's contrastive loss) of N pairs of embeddings: row i of z1
// and row i of z2 (both N x D float32 nodes) are a positive pair. With the
// 2N embeddings stacked as z = [z1; z2], u_k = z_k / max(|z_k|, 1e-8) and
// s_kj = u_k . u_j / tau,
//
//	loss = 1/(2N) * sum_k ( log sum_{j in A_k} exp(s_kj) - s_{k,p(k)} )
//
// where p(k) = (k + N) mod 2N is k's positive and A_k holds every j != k: the
// positive and the 2N-2 negatives. This is the public code's NT_Xent
// (cross-entropy with sum reduction over the 2N-1 others, divided by 2N).
//
// groups, when not nil, is a float32 node of shape (N) holding an integer
// group id per pair (GroupIDs.Float32s of [GroupCodes]); it turns on same-group masking: a
// pair j != i of the same group as pair i is removed from i's negatives, both
// its z1 and its z2 row, and likewise for every row of pair i. Use it for
// multi-instance pairs, where two pairs of one study are not negatives of each
// other. With groups nil no row is masked, as in the public code. The groups
// node is not differentiated; a training loop feeds it every step.
//
// tau must be positive and finite; N >= 1 and D >= 1. The result is a float32
// scalar node whose gradients with respect to z1 and z2 are computed in one
// backward op each, analytically through the normalisation. A NaN or
// infinite loss is an error from the op's Do naming the first non-finite
// embedding, so the machine's run fails rather than training on garbage.
func NTXent(z1, z2, groups *G.Node, tau float64) (*G.Node, error) {
	s1, s2 := shapeOf(z1), shapeOf(z2)
	if len(s1) != 2 || len(s2) != 2 || s1[0] != s2[0] || s1[1] != s2[1] || s1[0] < 1 || s1[1] < 1 {
		return nil, fmt.Errorf("contrastive: NTXent: z1 %v and z2 %v: want the same shape (N, D), N, D >= 1", s1, s2)
	}
	if !(tau > 0) || math.IsInf(tau, 0) {
		return nil, fmt.Errorf("contrastive: NTXent: temperature %v: want a finite value > 0", tau)
	}
	op := &ntxentOp{n: s1[0], d: s1[1], tau: tau, masked: groups != nil}
	args := []*G.Node{z1, z2}
	if groups != nil {
		if sg := shapeOf(groups); len(sg) != 1 || sg[0] != s1[0] {
			return nil, fmt.Errorf("contrastive: NTXent: groups %v: want (%d), one id per pair", sg, s1[0])
		}
		args = append(args, groups)
	}
	n, err := G.ApplyOp(op, args...)
	if err != nil {
		return nil, fmt.Errorf("contrastive: NTXent of %v: %w", s1, err)
	}
	return n, nil
}

// NTXentGrad computes the NT-Xent loss of [NTXent] and its gradients with
// respect to z1 and z2 on plain row-major N x D slices, without a graph.
// groups is nil for no masking, else one group id per pair (see GroupCodes).
func NTXentGrad(z1, z2 []float32, n, d int, tau float64, groups GroupIDs) (loss float64, dz1, dz2 []float32, err error) {
	if n < 1 || d < 1 || len(z1) != n*d || len(z2) != n*d {
		return 0, nil, nil, fmt.Errorf("contrastive: NTXentGrad: z1 has %d values and z2 %d, want N*D = %d*%d", len(z1), len(z2), n, d)
	}
	if !(tau > 0) || math.IsInf(tau, 0) {
		return 0, nil, nil, fmt.Errorf("contrastive: NTXentGrad: temperature %v: want a finite value > 0", tau)
	}
	if groups != nil && len(groups) != n {
		return 0, nil, nil, fmt.Errorf("contrastive: NTXentGrad: %d group ids for %d pairs", len(groups), n)
	}
	loss, dz, err := ntxent(z1, z2, n, d, tau, groups, true, "NTXentGrad")
	if err != nil {
		return 0, nil, nil, err
	}
	dz1, dz2 = make([]float32, n*d), make([]float32, n*d)
	for i := range dz1 {
		dz1[i] = float32(dz[i])
		dz2[i] = float32(dz[n*d+i])
	}
	return loss, dz1, dz2, nil
}

// GroupIDs are the group ids of N pairs, one per pair: pairs of the same
// study (or patient) share an id. The same ids serve NTXentGrad and, as
// Float32s, NTXent's groups node.
type GroupIDs []int

// GroupCodes turns group names (such as video.Batch.Groups, one per pair)
// into group ids: each distinct name gets the index of its first appearance.
func GroupCodes(groups []string) GroupIDs {
	ids := make(map[string]int, len(groups))
	out := make(GroupIDs, len(groups))
	for i, g := range groups {
		id, ok := ids[g]
		if !ok {
			id = len(ids)
			ids[g] = id
		}
		out[i] = id
	}
	return out
}

// Float32s returns the ids as float32 values, the data to feed NTXent's
// groups node (graph inputs are float32).
func (g GroupIDs) Float32s() []float32 {
	out := make([]float32, len(g))
	for i, id := range g {
		out[i] = float32(id)
	}
	return out
}

// ntxent computes the loss and, when grad is set, dloss/dz for the stacked
// embeddings (2N x D, z1's rows first), in float64.
func ntxent(z1, z2 []float32, n, d int, tau float64, groups []int, grad bool, what string) (float64, []float64, error) {
	m := 2 * n
	u := make([]float64, m*d)
	norm := make([]float64, m)
	for k := 0; k < m; k++ {
		row := rowOf(z1, z2, n, d, k)
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		norm[k] = math.Max(math.Sqrt(ss), normEps)
		uk := u[k*d : (k+1)*d]
		for j, v := range row {
			uk[j] = float64(v) / norm[k]
		}
	}
	// s[k][j] = u_k . u_j / tau (symmetric).
	s := make([]float64, m*m)
	for k := 0; k < m; k++ {
		uk := u[k*d : (k+1)*d]
		for j := k; j < m; j++ {
			uj := u[j*d : (j+1)*d]
			var dot float64
			for c, v := range uk {
				dot += v * uj[c]
			}
			s[k*m+j] = dot / tau
			s[j*m+k] = dot / tau
		}
	}
	allowed := func(k, j int) bool {
		if j == k {
			return false
		}
		if groups == nil || j%n == k%n {
			return true
		}
		return groups[j%n] != groups[k%n]
	}
	var gs []float64 // dloss/ds
	if grad {
		gs = make([]float64, m*m)
	}
	var sum float64
	for k := 0; k < m; k++ {
		p := (k + n) % m
		row := s[k*m : (k+1)*m]
		mx := math.Inf(-1)
		for j, v := range row {
			if allowed(k, j) {
				mx = math.Max(mx, v)
			}
		}
		var e float64
		for j, v := range row {
			if allowed(k, j) {
				e += math.Exp(v - mx)
			}
		}
		lse := mx + math.Log(e)
		sum += lse - row[p]
		if grad {
			gk := gs[k*m : (k+1)*m]
			for j, v := range row {
				if allowed(k, j) {
					gk[j] = math.Exp(v-lse) / float64(m)
				}
			}
			gk[p] -= 1 / float64(m)
		}
	}
	loss := sum / float64(m)
	if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsInf(float64(float32(loss)), 0) {
		return 0, nil, fmt.Errorf("contrastive: %s: loss is %v (%s)", what, loss, nonFinite(z1, z2))
	}
	if !grad {
		return loss, nil, nil
	}
	// dloss/du_k = sum_j (gs[k][j] + gs[j][k]) u_j / tau; then through the
	// normalisation: dloss/dz_k = (du_k - u_k (u_k . du_k)) / |z_k| (or
	// du_k / eps where the norm was clamped).
	dz := make([]float64, m*d)
	du := make([]float64, d)
	for k := 0; k < m; k++ {
		clear(du)
		for j := 0; j < m; j++ {
			w := (gs[k*m+j] + gs[j*m+k]) / tau
			if w == 0 {
				continue
			}
			uj := u[j*d : (j+1)*d]
			for c := range du {
				du[c] += w * uj[c]
			}
		}
		uk := u[k*d : (k+1)*d]
		out := dz[k*d : (k+1)*d]
		if norm[k] == normEps {
			for c := range out {
				out[c] = du[c] / normEps
			}
			continue
		}
		var proj float64
		for c, v := range uk {
			proj += v * du[c]
		}
		for c := range out {
			out[c] = (du[c] - uk[c]*proj) / norm[k]
		}
	}
	return loss, dz, nil
}

// rowOf returns row k of the stacked embeddings [z1; z2].
func rowOf(z1, z2 []float32, n, d, k int) []float32 {
	if k < n {
		return z1[k*d : (k+1)*d]
	}
	return z2[(k-n)*d : (k-n+1)*d]
}

// nonFinite describes the first NaN or infinity among the embeddings.
func nonFinite(z1, z2 []float32) string {
	for name, z := range map[string][]float32{"z1": z1, "z2": z2} {
		for i, v := range z {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Sprintf("%s[%d] is %v", name, i, v)
			}
		}
	}
	return "embeddings are finite"
}

// opBase holds what every op of this package shares.
type opBase = gop.Base

func hashOf(op fmt.Stringer) uint32 { return gop.Hash(op) }

func fnType(dims []int, out int) hm.Type { return gop.FnType(dims, out) }

func shapeOf(n *G.Node) []int { return []int(n.Shape().Clone()) }

func float32s(what string, v G.Value) ([]float32, tensor.Shape, error) {
	return gop.Float32s("contrastive: "+what, v)
}

func scalarOf(v G.Value) (float32, error) { return gop.Scalar(v) }

// ntxentOp is NTXent's forward pass: (z1, z2[, groups]) -> scalar.
type ntxentOp struct {
	opBase
	n, d   int
	tau    float64
	masked bool
}

func (op *ntxentOp) Arity() int {
	if op.masked {
		return 3
	}
	return 2
}
func (op *ntxentOp) Type() hm.Type {
	if op.masked {
		return fnType([]int{2, 2, 1}, 0)
	}
	return fnType([]int{2, 2}, 0)
}
func (op *ntxentOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.ScalarShape(), nil
}
func (op *ntxentOp) String() string {
	return fmt.Sprintf("NTXent(n=%d, d=%d, tau=%v, masked=%t)", op.n, op.d, op.tau, op.masked)
}
func (op *ntxentOp) Hashcode() uint32      { return hashOf(op) }
func (op *ntxentOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }

// inputs reads and checks (z1, z2[, groups]).
func (op *ntxentOp) inputs(what string, vals []G.Value) (z1, z2 []float32, groups []int, err error) {
	if len(vals) < op.Arity() {
		return nil, nil, nil, fmt.Errorf("contrastive: %s: %d inputs, want %d", what, len(vals), op.Arity())
	}
	want := tensor.Shape{op.n, op.d}
	var s1, s2 tensor.Shape
	if z1, s1, err = float32s(what, vals[0]); err != nil {
		return nil, nil, nil, err
	}
	if z2, s2, err = float32s(what, vals[1]); err != nil {
		return nil, nil, nil, err
	}
	if !s1.Eq(want) || !s2.Eq(want) {
		return nil, nil, nil, fmt.Errorf("contrastive: %s: z1 %v and z2 %v, want %v", what, []int(s1), []int(s2), []int(want))
	}
	if op.masked {
		g, sg, err := float32s(what, vals[2])
		if err != nil {
			return nil, nil, nil, err
		}
		if len(g) != op.n {
			return nil, nil, nil, fmt.Errorf("contrastive: %s: groups %v, want (%d)", what, []int(sg), op.n)
		}
		groups = make([]int, op.n)
		for i, v := range g {
			if f := float64(v); f != math.Trunc(f) || math.IsInf(f, 0) {
				return nil, nil, nil, fmt.Errorf("contrastive: %s: groups[%d] = %v: want an integer id", what, i, v)
			}
			groups[i] = int(v)
		}
	}
	return z1, z2, groups, nil
}

func (op *ntxentOp) Do(vals ...G.Value) (G.Value, error) {
	if len(vals) != op.Arity() {
		return nil, fmt.Errorf("contrastive: NTXent: %d inputs, want %d", len(vals), op.Arity())
	}
	z1, z2, groups, err := op.inputs("NTXent", vals)
	if err != nil {
		return nil, err
	}
	loss, _, err := ntxent(z1, z2, op.n, op.d, op.tau, groups, false, "NTXent")
	if err != nil {
		return nil, err
	}
	return G.NewF32(float32(loss)), nil
}

func (op *ntxentOp) DiffWRT(inputs int) []bool {
	d := []bool{true, true, false}
	return d[:inputs]
}

func (op *ntxentOp) SymDiff(inputs G.Nodes, _, grad *G.Node) (G.Nodes, error) {
	out := make(G.Nodes, len(inputs))
	for wrt := 0; wrt < 2; wrt++ {
		args := append(append(G.Nodes{}, inputs...), grad)
		dz, err := G.ApplyOp(&ntxentGradOp{ntxentOp: *op, wrt: wrt}, args...)
		if err != nil {
			return nil, err
		}
		out[wrt] = dz
	}
	return out, nil
}

// ntxentGradOp is NTXent's gradient with respect to z1 (wrt 0) or z2 (wrt
// 1): (z1, z2[, groups], dloss) -> N x D.
type ntxentGradOp struct {
	ntxentOp
	wrt int
}

func (op *ntxentGradOp) Arity() int { return op.ntxentOp.Arity() + 1 }
func (op *ntxentGradOp) Type() hm.Type {
	if op.masked {
		return fnType([]int{2, 2, 1, 0}, 2)
	}
	return fnType([]int{2, 2, 0}, 2)
}
func (op *ntxentGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.n, op.d}, nil
}
func (op *ntxentGradOp) String() string {
	return fmt.Sprintf("NTXentGrad%d(n=%d, d=%d, tau=%v, masked=%t)", op.wrt+1, op.n, op.d, op.tau, op.masked)
}
func (op *ntxentGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *ntxentGradOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.String()) }

func (op *ntxentGradOp) Do(vals ...G.Value) (G.Value, error) {
	const what = "NTXent backward"
	if len(vals) != op.Arity() {
		return nil, fmt.Errorf("contrastive: %s: %d inputs, want %d", what, len(vals), op.Arity())
	}
	z1, z2, groups, err := op.inputs(what, vals)
	if err != nil {
		return nil, err
	}
	g, err := scalarOf(vals[len(vals)-1])
	if err != nil {
		return nil, fmt.Errorf("contrastive: %s: %w", what, err)
	}
	_, dz, err := ntxent(z1, z2, op.n, op.d, op.tau, groups, true, what)
	if err != nil {
		return nil, err
	}
	nd := op.n * op.d
	part := dz[op.wrt*nd : (op.wrt+1)*nd]
	out := make([]float32, nd)
	for i, v := range part {
		out[i] = float32(float64(g) * v)
	}
	return tensor.New(tensor.WithShape(op.n, op.d), tensor.WithBacking(out)), nil
}
