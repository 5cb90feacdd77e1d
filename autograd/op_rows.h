/* Rows of the op table for ops written outside ops.c, one family per file
 * (ops_conv.c, ops_pool.c, ops_softmax.c). Each file defines its ops'
 * backward and gradcheck example beside the forward, as ops.c does; this
 * header declares them and spells the rows, which td_ops[] in ops.c pulls
 * in with one line per family. (Internal: the td_op_ names are not API.) */
#ifndef TD_OP_ROWS_H
#define TD_OP_ROWS_H

#include "gradcheck.h"

/* Stops with the op's name, the reason and the shapes of a and b (b may be
 * NULL): a shape error is a programmer error. */
void td_op_shape_fail(int op, const td_var *a, const td_var *b, const char *why)
    __attribute__((noreturn));

#define TD_OP_ROW_DECL(name)                         \
    void td_op_##name##_backward(td_tape *t, td_node *n); \
    td_var *td_op_##name##_example(td_tape *t, td_gc *g, int variant);
#define TD_OP_ROW(id, name) [id] = {#name, 1, td_op_##name##_backward, td_op_##name##_example, 0},
/* A row whose backward assigns to fresh input grads (op_table.h). */
#define TD_OP_ROW_FRESH(id, name) \
    [id] = {#name, 1, td_op_##name##_backward, td_op_##name##_example, 1},

/* ops_conv.c */
TD_OP_ROW_DECL(conv2d)
TD_OP_ROW_DECL(conv_transpose2d)
#define TD_OP_ROWS_CONV \
    TD_OP_ROW_FRESH(TD_OP_CONV2D, conv2d) TD_OP_ROW_FRESH(TD_OP_CONV_TRANSPOSE2D, conv_transpose2d)

/* ops_pool.c */
TD_OP_ROW_DECL(max_pool2d)
TD_OP_ROW_DECL(upsample2d)
#define TD_OP_ROWS_POOL \
    TD_OP_ROW(TD_OP_MAX_POOL2D, max_pool2d) TD_OP_ROW(TD_OP_UPSAMPLE2D, upsample2d)

/* ops_softmax.c */
TD_OP_ROW_DECL(log_softmax)
TD_OP_ROW_DECL(cross_entropy)
#define TD_OP_ROWS_SOFTMAX \
    TD_OP_ROW(TD_OP_LOG_SOFTMAX, log_softmax) TD_OP_ROW(TD_OP_CROSS_ENTROPY, cross_entropy)

#endif
