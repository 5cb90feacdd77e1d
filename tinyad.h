/* tinyad: one include for the whole public API. */
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

#endif
