// Package pth reads PyTorch state dicts from the files that torch.save
// writes, without Python.
//
// Since PyTorch 1.6 such a file is a zip archive: <archive>/data.pkl is a
// pickle of the saved object (usually an OrderedDict of tensors), and each
// tensor storage is a raw little-endian array in <archive>/data/<key>
// (<archive>/byteorder, when present, may say "big"). Read interprets the
// pickle with a small virtual machine that never executes code: it knows
// dicts, lists, tuples and scalars, and of Python's globals only
// collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter(_with_state) and the torch.<Type>Storage
// classes. Any other global (an argparse.Namespace or a numpy scalar stored
// in a checkpoint, a pickled nn.Module) is an error that names it.
//
// Tensors come out as row-major float32 copies whatever their strides,
// offsets or shared storages; Tensor.DType keeps the original element type
// and Tensor.Ints the exact values of integer tensors such as BatchNorm's
// num_batches_tracked. A checkpoint that wraps the state dict ({"epoch": 3,
// "state_dict": {...}}) yields the state dict as File.Tensors and every
// tensor in the file as File.All, with dotted names.
//
// The legacy (pre-1.6) format and TorchScript archives are refused with an
// error that says how to re-save the file.
//
// # Why not a general unpickler
//
// A pickle is a program: GLOBAL names any importable callable and REDUCE
// calls it, so Python's pickle.load (torch.load without weights_only) runs
// whatever a file from the internet asks for, os.system included. A general
// unpickler in Go cannot run Python, but it still resolves every global
// (github.com/nlpodyssey/gopickle v0.3.0 turns "os.system" into a generic
// class object instead of refusing it) and trusts the pickle's length
// fields: an 11-byte pickle holding a BINUNICODE8 opcode that claims 2^40
// bytes makes gopickle allocate 1 TiB before reading, and the process dies
// with "fatal error: out of memory", which no recover catches (measured
// under ulimit -v 8 GB). This package's machine keeps to the allow-list
// above, as torch.load(weights_only=True) does, checks every length against
// the bytes left before allocating (TestErrors "long": "pickle ends
// early"), bounds nesting and dict hashing, and is fuzzed (FuzzRead,
// FuzzPickle).
package pth
