/* Files through zlib, in one include: IDX datasets (idx.h), PNG images
 * (png.h) and the tensor archive that checkpoints are made of
 * (archive.h). Writers go through PATH.tmp and a rename, so a failure never
 * damages the previous file. */
#ifndef TD_IO_H
#define TD_IO_H

#include "archive.h"
#include "idx.h"
#include "png.h"

#endif
