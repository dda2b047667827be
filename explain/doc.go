// Package explain makes saliency maps for 3-D convolutional video models by
// Grad-CAM, and draws them: colour maps, overlays on video frames, figure
// grids and PNG files.
//
// # Grad-CAM
//
// Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep
// Networks via Gradient-based Localization", ICCV 2017) explains one output
// score y of a convolutional network, such as a class logit, by the
// activations A of one convolutional layer, usually the last, whose units
// still have a place in the input but see enough of it to mean something.
// Each channel c is weighted by how much y grows with it on average,
//
//	α_c = mean over positions p of ∂y/∂A_c(p),
//
// and the map is the positive part of the weighted sum of the channels,
//
//	L(p) = ReLU(Σ_c α_c A_c(p)).
//
// The ReLU keeps only the places that speak for y. For a 3-D CNN on video
// the activations are (N, C, t, h, w), the positions p run over time as
// well as space, and the map is a small video. It is upsampled to the
// input clip's size (T, H, W) by trilinear interpolation, normalised to
// [0, 1], and, to show it as one picture, projected by taking each pixel's
// maximum over time.
//
// In the aortic-stenosis study this is done for the severe-AS logit of the
// fine-tuned R3D-18 at its last residual stage (layer4), over the first 32
// frames of a video, and the projected map is shown over the first frame
// (the paper's Figure 3, Kinetics-400 initialisation on top, MI-SimCLR+FO
// below, one column per video).
//
// # This package
//
// The functions here work on plain float32 slices, so they apply to any
// model: the caller evaluates the network in evaluation mode (batch
// normalisation with running statistics, no dropout), keeps the chosen
// layer's output and the gradient of the target score with respect to it,
// and passes both to GradCAM, or to Saliency, which runs the whole chain
// GradCAM -> Upsample -> Normalize -> TemporalMax. Each step is checked
// against PyTorch (testdata/make_golden.py), Upsample against
// torch.nn.functional.interpolate(mode="trilinear", align_corners=False).
//
// ModelCAM does all of it for any model made of nn's layers, given as a
// Split: the model up to the target layer and the model from there to the
// logits (gorgonia differentiates only with respect to a graph's inputs, so
// the graph is built in two parts). ResNetCAM cuts a resnet3d model after
// one of its stages; both are checked against PyTorch's Grad-CAM of
// torchvision's R3D and R(2+1)D.
//
// For pictures, Colorize and Overlay paint maps with a Colormap (Jet, as in
// most Grad-CAM figures, or the perceptually uniform Inferno and Viridis),
// Grid lays images out in labelled rows and columns, and WritePNG saves an
// image atomically.
//
// Arrays are row-major, activations NCDHW as everywhere in vidssl. Bad
// input (wrong lengths, non-positive sizes, NaN or infinite values) gets an
// error that names the function and the argument, never a panic.
package explain
