/* Shapes, creation, views, copies, the arena, error messages. */
#include <string.h>

#include "check.h"
#include "tinyad.h"

int main(void) {
    td_shape s = TD_SHAPE(2, 3, 4);
    CHECK(s.ndim == 3 && s.d[0] == 2 && s.d[2] == 4 && s.d[3] == 1, "TD_SHAPE");
    CHECK(td_shape_size(s) == 24, "size");
    char buf[64];
    CHECK(!strcmp(td_shape_str(s, buf, sizeof buf), "[2, 3, 4]"), "%s", buf);

    td_shape out;
    CHECK(td_shape_broadcast(TD_SHAPE(3, 1), TD_SHAPE(1, 4), &out) == 0 &&
          td_shape_equal(out, TD_SHAPE(3, 4)), "[3,1] x [1,4]");
    CHECK(td_shape_broadcast(TD_SHAPE(2, 3, 4), TD_SHAPE(4), &out) == 0 &&
          td_shape_equal(out, TD_SHAPE(2, 3, 4)), "[2,3,4] x [4]");
    CHECK(td_shape_broadcast(TD_SHAPE(3, 4), TD_SHAPE(3), &out) == -1 &&
          strstr(td_error(), "[3, 4]") && strstr(td_error(), "do not broadcast"), "error: %s", td_error());

    td_tensor z = td_tensor_zeros(TD_SHAPE(3, 4));
    CHECK(z.size == 12 && z.owns && ((uintptr_t)z.data % 64) == 0, "zeros aligned");
    int zero = 1;
    for (int i = 0; i < 12; i++) zero &= z.data[i] == 0;
    CHECK(zero, "zeros are zero");
    td_tensor o = td_tensor_full(TD_SHAPE(3, 4), 2.5f);
    CHECK(o.data[11] == 2.5f, "full");
    td_real vals[6] = {1, 2, 3, 4, 5, 6};
    td_tensor f = td_tensor_from(TD_SHAPE(2, 3), vals);
    vals[0] = 100;
    CHECK(f.data[0] == 1 && f.data[5] == 6, "from copies");

    /* views share memory */
    td_tensor r = td_tensor_reshape(&f, TD_SHAPE(3, 2));
    CHECK(r.data == f.data && !r.owns && r.shape.d[0] == 3, "reshape is a view");
    r.data[1] = 42;
    CHECK(f.data[1] == 42, "writes through a view");
    td_tensor row = td_tensor_rows(&f, 1, 1);
    CHECK(row.data == f.data + 3 && row.size == 3, "row view");
    CHECK(td_tensor_cols(&f) == 3 && td_tensor_rows_count(&f) == 2, "rows/cols");

    td_tensor c = td_tensor_clone(&f);
    CHECK(c.data != f.data && c.data[1] == 42, "clone copies");
    td_tensor_fill(&c, -1);
    CHECK(c.data[0] == -1 && f.data[0] == 1, "fill the clone only");
    td_tensor_copy(&c, &f);
    CHECK(c.data[5] == 6, "copy");

    /* the arena: grows, merges at reset, then a same-sized step allocates nothing */
    td_arena *a = td_arena_create(1024);
    for (int step = 0; step < 3; step++) {
        int64_t before = td_alloc_count();
        for (int i = 0; i < 10; i++) {
            td_tensor x = td_tensor_arena(a, TD_SHAPE(100));
            CHECK(((uintptr_t)x.data % 64) == 0, "arena alignment");
            td_tensor_fill(&x, (td_real)i);
        }
        int64_t allocs = td_alloc_count() - before;
        if (step == 0) CHECK(allocs > 0, "first step outgrows 1 KiB");
        if (step == 2) CHECK(allocs == 0, "after warm-up a step allocates nothing (%lld)", (long long)allocs);
        CHECK(td_arena_used(a) >= 10 * 400, "used %zu", td_arena_used(a));
        td_arena_reset(a);
        CHECK(td_arena_used(a) == 0, "reset rewinds");
    }
    CHECK(td_arena_capacity(a) >= 10 * 400, "one merged block holds a whole step");
    td_arena_destroy(a);

    /* mark / rewind: scratch taken after a mark is handed out again */
    a = td_arena_create(4096);
    void *keep = td_arena_alloc(a, 100);
    size_t mark = td_arena_mark(a);
    void *scratch = td_arena_alloc(a, 1000);
    td_arena_rewind(a, mark);
    CHECK(td_arena_used(a) == mark && td_arena_alloc(a, 500) == scratch && keep != scratch,
          "rewind reuses the scratch");
    mark = td_arena_mark(a);
    td_arena_alloc(a, 100);
    td_arena_alloc(a, 8192); /* chains a block: the rewind keeps everything */
    size_t used = td_arena_used(a);
    td_arena_rewind(a, mark);
    CHECK(td_arena_used(a) == used, "a rewind across blocks keeps them (%zu, %zu)", td_arena_used(a), used);
    td_arena_destroy(a);

    td_tensor_release(&z);
    td_tensor_release(&o);
    td_tensor_release(&f);
    td_tensor_release(&c);
    CHECK(f.data == NULL, "release clears");
    return check_done("tensor");
}
