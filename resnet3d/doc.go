// Package resnet3d builds torchvision's R3D-18 video ResNet (Tran et al., "A
// Closer Look at Spatiotemporal Convolutions for Action Recognition") on nn's
// gorgonia Ops, with torchvision's exact structure, shapes, state_dict names
// and default initialisation, and smaller variants of the same structure for
// CPU presets.
//
// The network is a stem (Conv3d 3x7x7, stride 1x2x2, no max-pool), four stages
// of BasicBlocks (two 3x3x3 convolutions with batch norm; stride 2 in every
// dimension in the first block of stages 2-4, with a 1x1x1 convolution and batch
// norm on the shortcut where the shape changes), global average pooling, and a
// fully connected layer. Without the fully connected layer (Config.NumClasses
// == 0) the model returns the pooled feature h, which self-supervised heads
// take.
package resnet3d
