// Package resnet3d builds torchvision's video ResNets (Tran et al., "A Closer
// Look at Spatiotemporal Convolutions for Action Recognition") on nn's
// gorgonia Ops, with torchvision's exact structure, shapes, state_dict names
// and default initialisation, and narrower or shallower variants of the same
// structure for CPU presets.
//
// As in torchvision's models/video/resnet.py, one builder (New) reads a
// table (Config): a stem, a residual block, a conv maker for each of the four
// stages and the number of blocks per stage. R3D18, MC3_18 and R2Plus1D18
// are torchvision's r3d_18, mc3_18 and r2plus1d_18:
//
//	model        stem          block       conv makers (stages 1-4)
//	R3D18        BasicStem     BasicBlock  Conv3DSimple x 4
//	MC3_18       BasicStem     BasicBlock  Conv3DSimple, Conv3DNoTemporal x 3
//	R2Plus1D18   R2Plus1DStem  BasicBlock  Conv2Plus1D x 4
//
// BasicStem is a Conv3d 3x7x7 (stride 1x2x2, no max-pool); R2Plus1DStem
// factors it into 1x7x7 and 3x1x1. Each stage's first block has stride 2
// (stages 2-4), with a 1x1x1 convolution and batch norm on the shortcut where
// the shape changes. Global average pooling and a fully connected layer
// follow. Without the fully connected layer (Config.NumClasses == 0) the
// model returns the pooled feature h, which self-supervised heads take.
//
// The zero values of Config's Stem, Block and Convs are R3D's, so a Config
// that names only InChannels, Width, Blocks and NumClasses is an R3D, and
// checkpoints written before those fields existed load as they did.
package resnet3d
