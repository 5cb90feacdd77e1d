/* tinyad tensors: n-d (1..4) contiguous row-major arrays of td_real.
 *
 * A tensor is a small value struct {data, shape, size}. It either owns its
 * data (heap, released by td_tensor_release) or is a view of someone else's
 * memory (a reshape, a row range, or arena storage for one training step).
 * Every tensor is contiguous: views that would need strides (a column slice,
 * a transpose) are copies made by the op that needs them, which keeps every
 * kernel a flat loop.
 *
 * This layer knows nothing of gradients. */
#ifndef TD_TENSOR_H
#define TD_TENSOR_H

#include <stddef.h>
#include <stdint.h>

/* float32 by default; -DTD_DOUBLE builds the same sources in double
 * precision (used by gradcheck to compare with finite differences). */
#ifdef TD_DOUBLE
typedef double td_real;
#define TD_REAL_NAME "double"
#else
typedef float td_real;
#define TD_REAL_NAME "float"
#endif

#define TD_MAX_DIMS 4

typedef struct td_shape {
    int ndim;                /* 1..TD_MAX_DIMS */
    int64_t d[TD_MAX_DIMS];  /* d[i] >= 0 for i < ndim; unused entries are 1 */
} td_shape;

typedef struct td_tensor {
    td_real *data;
    td_shape shape;
    int64_t size;  /* product of the dims */
    int owns;      /* 1: data is heap memory freed by td_tensor_release */
} td_tensor;

/* ---- errors -------------------------------------------------------------
 * Recoverable failures (bad file, bad user shape, bad flag) return a status
 * (0 ok, -1 failure) and leave a message for the user in a thread-local
 * buffer: td_error() reads it. Programmer errors use TD_ASSERT, which prints
 * file, line and a hint, then aborts. */
const char *td_error(void);
void td_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void td_clear_error(void);

void td_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
#define TD_ASSERT(cond, ...) \
    do { if (!(cond)) td_fatal_at(__FILE__, __LINE__, __VA_ARGS__); } while (0)

/* Checked allocation: on failure prints how much was asked for and exits(1).
 * Memory is 64-byte aligned (for the vector kernels). */
void *td_alloc(size_t bytes);
void *td_alloc_zero(size_t bytes);
void td_free(void *p);

/* Number of heap allocations made through td_alloc since start: the
 * benchmark and tests use it to prove a training step allocates nothing. */
int64_t td_alloc_count(void);

/* ---- shapes ------------------------------------------------------------- */
td_shape td_shape_make(int ndim, const int64_t *dims);
#define TD_SHAPE(...) \
    td_shape_make((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                  (int64_t[]){__VA_ARGS__})
int64_t td_shape_size(td_shape s);
int td_shape_equal(td_shape a, td_shape b);
/* NumPy broadcasting (dims aligned from the right). Returns 0 and sets *out,
 * or -1 with td_error() naming both shapes. */
int td_shape_broadcast(td_shape a, td_shape b, td_shape *out);
/* "[128, 784]" into buf (at least 64 bytes); returns buf. */
char *td_shape_str(td_shape s, char *buf, size_t len);

/* ---- creation and lifetime ---------------------------------------------- */
td_tensor td_tensor_zeros(td_shape s);
td_tensor td_tensor_ones(td_shape s);
td_tensor td_tensor_full(td_shape s, td_real value);
td_tensor td_tensor_from(td_shape s, const td_real *values); /* copies */
/* Wraps memory the caller owns (no copy, not freed). */
td_tensor td_tensor_wrap(td_shape s, td_real *data);
void td_tensor_release(td_tensor *t);

/* Views share data with t (no copy, never owning). */
td_tensor td_tensor_reshape(const td_tensor *t, td_shape s); /* same size */
td_tensor td_tensor_rows(const td_tensor *t, int64_t first, int64_t count);

void td_tensor_fill(td_tensor *t, td_real value);
void td_tensor_copy(td_tensor *dst, const td_tensor *src); /* same size */
td_tensor td_tensor_clone(const td_tensor *t);              /* owning copy */

/* rows / cols of a tensor seen as a matrix: the last dim is the columns,
 * all leading dims are rows. */
int64_t td_tensor_cols(const td_tensor *t);
int64_t td_tensor_rows_count(const td_tensor *t);

/* ---- the per-step arena ---------------------------------------------------
 * A bump allocator for intermediates. td_arena_reset rewinds it in O(1).
 * When a step needs more than the current block, the arena takes another
 * block; at the next reset the blocks are merged into one big enough for the
 * whole step, so after warm-up a step allocates nothing. */
typedef struct td_arena td_arena;
td_arena *td_arena_create(size_t initial_bytes);
void td_arena_destroy(td_arena *a);
void *td_arena_alloc(td_arena *a, size_t bytes); /* 64-byte aligned */
void td_arena_reset(td_arena *a);
size_t td_arena_used(const td_arena *a);     /* bytes used in this step */
size_t td_arena_capacity(const td_arena *a); /* bytes held */
/* Scratch for the length of one call: take a mark, allocate, rewind to the
 * mark when done, and the next allocation reuses the space (a conv op's
 * im2col buffer need not last the whole step). If the arena had to chain a
 * new block since the mark, the rewind keeps everything (the next reset
 * merges the blocks as usual). */
size_t td_arena_mark(const td_arena *a);
void td_arena_rewind(td_arena *a, size_t mark);
/* A tensor whose storage lives in the arena until the next reset. */
td_tensor td_tensor_arena(td_arena *a, td_shape s);

#endif
