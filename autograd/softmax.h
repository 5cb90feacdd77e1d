/* Softmax-based ops for classifiers: log_softmax along an axis, and the
 * cross-entropy of logits against integer class labels (one fused op, so a
 * classifier needs neither logsumexp nor a hand-made one-hot). Forward,
 * backward and gradcheck examples are in autograd/ops_softmax.c. */
#ifndef TD_SOFTMAX_OPS_H
#define TD_SOFTMAX_OPS_H

#include "autograd.h"

/* x - logsumexp(x, axis), same shape as x; stable for any x. */
td_var *td_log_softmax(td_tape *t, td_var *x, int axis);

/* Mean over the rows of -log softmax(logits)[row, label[row]]: a [1] var,
 * the mean as PyTorch's CrossEntropyLoss (so learning rates carry over).
 * logits is [N, K] (classes along the last axis); labels is a constant var
 * of N class indices stored as td_real (shape [N] or [N, 1]), each an
 * integer in [0, K): fill one from a batcher's uint8_t labels with a loop.
 * Differentiable in the logits. */
td_var *td_cross_entropy(td_tape *t, td_var *logits, td_var *labels);

#endif
