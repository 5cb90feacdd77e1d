/* Shapes, tensor creation, views, copies. */
#include <stdio.h>
#include <string.h>

#include "tensor.h"

td_shape td_shape_make(int ndim, const int64_t *dims) {
    TD_ASSERT(ndim >= 1 && ndim <= TD_MAX_DIMS, "a shape has 1 to %d dims, got %d", TD_MAX_DIMS,
              ndim);
    td_shape s = {.ndim = ndim, .d = {1, 1, 1, 1}};
    for (int i = 0; i < ndim; i++) {
        TD_ASSERT(dims[i] >= 0, "dim %d of a shape is negative (%lld)", i, (long long)dims[i]);
        s.d[i] = dims[i];
    }
    return s;
}

int64_t td_shape_size(td_shape s) {
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) {
        TD_ASSERT(s.d[i] == 0 || n <= INT64_MAX / s.d[i], "shape size overflows int64");
        n *= s.d[i];
    }
    return n;
}

int td_shape_equal(td_shape a, td_shape b) {
    if (a.ndim != b.ndim) return 0;
    for (int i = 0; i < a.ndim; i++)
        if (a.d[i] != b.d[i]) return 0;
    return 1;
}

char *td_shape_str(td_shape s, char *buf, size_t len) {
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s.ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %lld" : "%lld", (long long)s.d[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
    return buf;
}

int td_shape_broadcast(td_shape a, td_shape b, td_shape *out) {
    int n = a.ndim > b.ndim ? a.ndim : b.ndim;
    td_shape r = {.ndim = n, .d = {1, 1, 1, 1}};
    for (int i = 0; i < n; i++) { /* i counts from the right */
        int64_t da = i < a.ndim ? a.d[a.ndim - 1 - i] : 1;
        int64_t db = i < b.ndim ? b.d[b.ndim - 1 - i] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[64], sb[64];
            td_set_error("shapes %s and %s do not broadcast (dim %d from the right: %lld vs %lld)",
                         td_shape_str(a, sa, sizeof sa), td_shape_str(b, sb, sizeof sb), i,
                         (long long)da, (long long)db);
            return -1;
        }
        r.d[n - 1 - i] = da == 1 ? db : da;
    }
    *out = r;
    return 0;
}

td_tensor td_tensor_zeros(td_shape s) {
    td_tensor t = {.shape = s, .size = td_shape_size(s), .owns = 1};
    t.data = td_alloc_zero((size_t)t.size * sizeof(td_real));
    return t;
}

td_tensor td_tensor_full(td_shape s, td_real value) {
    td_tensor t = td_tensor_zeros(s);
    td_tensor_fill(&t, value);
    return t;
}

td_tensor td_tensor_ones(td_shape s) { return td_tensor_full(s, 1); }

td_tensor td_tensor_from(td_shape s, const td_real *values) {
    td_tensor t = td_tensor_zeros(s);
    memcpy(t.data, values, (size_t)t.size * sizeof(td_real));
    return t;
}

td_tensor td_tensor_wrap(td_shape s, td_real *data) {
    td_tensor t = {.data = data, .shape = s, .size = td_shape_size(s), .owns = 0};
    return t;
}

void td_tensor_release(td_tensor *t) {
    if (t->owns) td_free(t->data);
    t->data = NULL;
    t->size = 0;
    t->owns = 0;
}

td_tensor td_tensor_reshape(const td_tensor *t, td_shape s) {
    char a[64], b[64];
    TD_ASSERT(td_shape_size(s) == t->size, "reshape %s -> %s changes the number of elements",
              td_shape_str(t->shape, a, sizeof a), td_shape_str(s, b, sizeof b));
    return td_tensor_wrap(s, t->data);
}

int64_t td_tensor_cols(const td_tensor *t) { return t->shape.d[t->shape.ndim - 1]; }

int64_t td_tensor_rows_count(const td_tensor *t) {
    int64_t cols = td_tensor_cols(t);
    return cols ? t->size / cols : 0;
}

td_tensor td_tensor_rows(const td_tensor *t, int64_t first, int64_t count) {
    TD_ASSERT(first >= 0 && count >= 0 && first + count <= t->shape.d[0],
              "rows [%lld, %lld) out of range for a tensor with %lld rows", (long long)first,
              (long long)(first + count), (long long)t->shape.d[0]);
    td_shape s = t->shape;
    s.d[0] = count;
    int64_t row_size = t->shape.d[0] ? t->size / t->shape.d[0] : 0;
    return td_tensor_wrap(s, t->data + first * row_size);
}

void td_tensor_fill(td_tensor *t, td_real value) {
    for (int64_t i = 0; i < t->size; i++) t->data[i] = value;
}

void td_tensor_copy(td_tensor *dst, const td_tensor *src) {
    TD_ASSERT(dst->size == src->size, "copy between tensors of %lld and %lld elements",
              (long long)dst->size, (long long)src->size);
    if (dst->data != src->data) memmove(dst->data, src->data, (size_t)src->size * sizeof(td_real));
}

td_tensor td_tensor_clone(const td_tensor *t) { return td_tensor_from(t->shape, t->data); }
