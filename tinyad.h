/* tinyad: one include for the whole public API. */
#ifndef TINYAD_H
#define TINYAD_H

#include "tensor/tensor.h"
#include "tensor/kernels.h"
#include "tensor/gemm.h"
#include "tensor/random.h"
#include "tensor/io.h"
#include "autograd/autograd.h"

#endif
