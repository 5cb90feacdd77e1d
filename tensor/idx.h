/* IDX datasets (MNIST format).
 *
 * Only unsigned-byte IDX files (type 0x08), which is what MNIST,
 * Fashion-MNIST and KMNIST use. The file may be gzip-compressed or plain
 * (detected from the content, not the name). The reader checks the header
 * against sane limits and the data it finds; on failure it returns -1 and
 * td_error() says what is wrong and what to do. */
#ifndef TD_IDX_H
#define TD_IDX_H

#include "tensor.h"

typedef struct td_idx {
    int ndim;               /* 1 (labels) or 3 (images) typically; up to 4 */
    int64_t dims[4];
    int64_t count;          /* dims[0] */
    int64_t item_size;      /* product of dims[1..] (784 for MNIST images) */
    uint8_t *data;          /* count * item_size bytes, from malloc: td_idx_release frees it, or a
                               caller takes it (setting data to NULL) and frees it with free() */
} td_idx;

int td_idx_load(const char *path, td_idx *out);
void td_idx_release(td_idx *idx);

#endif
