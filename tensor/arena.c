/* The per-step bump arena.
 *
 * Blocks form a list; allocation bumps an offset in the newest block. When a
 * step outgrows its block, a new block (at least twice as big) is chained.
 * At reset, if more than one block was used, all are freed and replaced by a
 * single block as big as everything the step used, so the next step of the
 * same shape fits in one block and allocates nothing. */
#include <string.h>

#include "tensor.h"

typedef struct arena_block {
    struct arena_block *prev;
    size_t size, used;
    unsigned char *mem;
} arena_block;

struct td_arena {
    arena_block *head;
    size_t used_total; /* bytes handed out this step, all blocks */
};

static arena_block *block_new(size_t size, arena_block *prev) {
    arena_block *b = td_alloc(sizeof *b);
    b->prev = prev;
    b->size = size;
    b->used = 0;
    b->mem = td_alloc(size);
    return b;
}

td_arena *td_arena_create(size_t initial_bytes) {
    td_arena *a = td_alloc(sizeof *a);
    a->head = block_new(initial_bytes ? initial_bytes : (1 << 20), NULL);
    a->used_total = 0;
    return a;
}

static void free_blocks(arena_block *b) {
    while (b) {
        arena_block *prev = b->prev;
        td_free(b->mem);
        td_free(b);
        b = prev;
    }
}

void td_arena_destroy(td_arena *a) {
    if (!a) return;
    free_blocks(a->head);
    td_free(a);
}

void *td_arena_alloc(td_arena *a, size_t bytes) {
    size_t need = (bytes + 63) & ~(size_t)63;
    arena_block *b = a->head;
    if (b->size - b->used < need) {
        size_t size = b->size * 2 > need ? b->size * 2 : need;
        b = a->head = block_new(size, b);
    }
    void *p = b->mem + b->used;
    b->used += need;
    a->used_total += need;
    return p;
}

void td_arena_reset(td_arena *a) {
    if (a->head->prev) { /* the step outgrew one block: merge for next time */
        size_t total = 0;
        for (arena_block *b = a->head; b; b = b->prev) total += b->size;
        free_blocks(a->head);
        a->head = block_new(total, NULL);
    }
    a->head->used = 0;
    a->used_total = 0;
}

size_t td_arena_used(const td_arena *a) { return a->used_total; }

size_t td_arena_capacity(const td_arena *a) {
    size_t total = 0;
    for (arena_block *b = a->head; b; b = b->prev) total += b->size;
    return total;
}

size_t td_arena_mark(const td_arena *a) { return a->used_total; }

void td_arena_rewind(td_arena *a, size_t mark) {
    TD_ASSERT(mark <= a->used_total, "td_arena_rewind: the mark (%zu) is past what is in use "
              "(%zu): was the arena reset since td_arena_mark?", mark, a->used_total);
    const size_t back = a->used_total - mark;
    if (back > a->head->used) return; /* part of it is in an older block */
    a->head->used -= back;
    a->used_total = mark;
}

td_tensor td_tensor_arena(td_arena *a, td_shape s) {
    int64_t n = td_shape_size(s);
    td_tensor t = {.shape = s, .size = n, .owns = 0};
    t.data = td_arena_alloc(a, (size_t)n * sizeof(td_real));
    return t;
}
