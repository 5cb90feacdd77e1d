/* tinyad: one include for the whole public API of the framework (tensors,
 * autograd, nn, datasets). The models are included one by one:
 * "models/vae.h", "models/convvae.h" (both over "models/vae_core.h"),
 * "models/ae.h", "models/dae.h", "models/sae.h". */
#ifndef TINYAD_H
#define TINYAD_H

#include "tensor/tensor.h"
#include "tensor/kernels.h"
#include "tensor/gemm.h"
#include "tensor/random.h"
#include "tensor/io.h"
#include "autograd/autograd.h"
#include "autograd/conv.h"
#include "autograd/softmax.h"
#include "nn/params.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/checkpoint.h"
#include "nn/data.h"

#endif
