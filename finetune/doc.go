// Package finetune fine-tunes a video ResNet to tell severe aortic stenosis
// from the rest and evaluates it, following the protocol of the paper
// (Holste et al., "Self-supervised learning of echocardiogram videos enables
// data-efficient clinical diagnosis") and its public code.
//
// # Protocol
//
//   - Initialisation (NewModel): random (torchvision's), or encoder weights
//     loaded non-strictly from a file: torchvision's Kinetics-400 r3d_18
//     (its 400-class fc is skipped), or a self-supervised checkpoint whose
//     encoder is named "encoder.*" (such as pretrain's). fc
//     stays random; the InitReport says what loaded.
//   - Labels: a fraction of the training studies (Subsets: 1, 5, 10, 25, 50,
//     75 or 100%, random, unstratified, nested, seed 0; SelectStudies picks
//     their videos). SubsetsBothClasses keeps at least one study of each
//     class in every subset, since pos_weight needs both.
//   - Training (FineTune): one random 16-frame clip per video per epoch with
//     the pad/crop, flip and rotate augmentation; BCEWithLogits with
//     pos_weight = negative/positive training videos on the logit after
//     Dropout(0.25); Adam without weight decay, batches of 88; validation
//     loss after every epoch on the 4 evenly spaced clips of every
//     validation video; early stopping with patience 5, at most 30 epochs,
//     keeping the weights of the lowest validation loss. Learning rate 1e-4,
//     or for label fractions up to 10% the one of 1e-4, 5e-4 and 1e-5 whose
//     run reaches the lowest validation loss.
//   - Evaluation (Predict, Evaluate): 4 evenly spaced clips per video; video
//     probability = mean of the clips' sigmoids, study probability = mean of
//     its videos'; AUROC with a 95% bootstrap interval, AUPRC and threshold
//     metrics at 0.5 at the study and the video level (Score).
//
// The model need not be NewModel's: FineTune, Predict and Evaluate take any
// nn.Module that maps clips to one logit per clip, on the CPU or on an
// Engine (Config.Engine). Nor need the optimiser be the paper's Adam:
// Config.Optimizer chooses it (SGD with momentum, weight decay), with LR
// and LRSweep as its learning rates.
//
// PaperConfig holds these settings; SmallConfig shrinks the model and the
// frames so that the protocol runs on a CPU in minutes.
//
// # Choices where the paper is silent
//
//   - The learning rate of a sweep is chosen by the lowest validation loss,
//     each run starting from the same weights and seed.
//   - The last, smaller training batch of an epoch is trained on (a second
//     graph for its size, sharing the Params and the optimiser).
//   - The training loss of an epoch is the mean over its videos; the
//     validation loss is the mean over all validation clips, with the
//     training pos_weight.
//   - A training set of one class is an error, not a silent fallback.
//
// Nothing here prints: progress goes to Config.Progress and, optionally, a
// history CSV (Config.HistoryPath, WriteHistory).
package finetune
