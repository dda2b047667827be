// Package nn holds the layers, losses and optimisers of vidssl's 3-D CNNs,
// built as gorgonia (gorgonia.org/gorgonia) operations: Conv3d, BatchNorm3d,
// ReLU, MaxPool3d, AvgPool3d, global average pooling, Linear, Dropout,
// BCEWithLogits, CrossEntropy, Adam and SGD, with PyTorch's semantics and
// default initialisation. [OptimizerConfig] chooses Adam or SGD as a value,
// for a training configuration to hold.
//
// Every operation is a gorgonia Op with a forward Do and a symbolic backward
// (SymDiff) whose passes are Ops too, so gorgonia.Grad differentiates any graph
// built from them, including graphs in evaluation mode (Grad-CAM needs that).
//
// # State and graphs
//
// Learnable tensors and buffers are [Param] values under torchvision's
// state_dict names ("stem.0.weight", "layer1.0.conv1.1.running_mean"). A
// [Module] adds its computation to a [Graph], which binds each Param into one
// gorgonia graph and carries the mode: a training graph uses batch statistics
// and dropout, an evaluation graph running statistics and no dropout. A model
// can be bound into any number of graphs (one per input shape and mode); they
// share the Param tensors, so an optimiser step is seen by all of them.
//
// # Tapes for other engines
//
// [Graph.Trace] lists the ops between a graph's inputs and outputs as a
// [Tape]: each op's kind, attributes, Params and input and output values.
// An engine that is not gorgonia's (package gpu's) compiles a tape into its
// own kernel calls, so a model defined once with nn's layers runs on it
// without the engine knowing the model.
//
// Activations are float32 NCDHW (batch, channels, time, height, width).
package nn
