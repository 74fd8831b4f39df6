/*
 * tr_sparse.h - a dense dataset as the sparse rows liblinear and libsvm
 * train on: per row its non-zero features as nodes (1-based index, value),
 * then an optional bias node (index n_features + 1), then a node of index
 * -1 that ends the row.
 *
 * Both libraries' node types (struct feature_node, struct svm_node) are
 * {int index; double value;}: a trainer states that with TR_SPARSE_LAYOUT
 * (checked at compile time) and hands the rows to its library as its own
 * node type. Only the library reads them; no code of ours reads a node
 * through the library's type.
 *
 * Memory: tr_sparse_build allocates; tr_sparse_free releases (accepts a
 * zeroed or failed tr_sparse). A model that keeps pointers into the rows
 * (libsvm's support vectors) must be freed first.
 */
#ifndef TR_SPARSE_H
#define TR_SPARSE_H

#include <stddef.h>

#include "tr_trainer.h"

typedef struct tr_sparse_node {
  int index; /* 1-based feature index; -1 ends the row */
  double value;
} tr_sparse_node;

typedef struct tr_sparse {
  tr_sparse_node *nodes; /* every row's nodes, one block */
  tr_sparse_node **rows; /* rows[i]: the first node of row i */
} tr_sparse;

/* Fails to compile unless node_type is laid out as tr_sparse_node. */
#define TR_SPARSE_LAYOUT(node_type)                                                                          \
  _Static_assert(sizeof(node_type) == sizeof(tr_sparse_node) &&                                              \
                     offsetof(node_type, index) == offsetof(tr_sparse_node, index) &&                        \
                     offsetof(node_type, value) == offsetof(tr_sparse_node, value),                          \
                 #node_type " is not laid out as tr_sparse_node")

/*
 * The rows of d; bias >= 0 adds the bias node to each. library names the
 * library in messages. 0, or -1 with err set (too large for int indexes,
 * out of memory); *out is to be freed with tr_sparse_free either way.
 */
int tr_sparse_build(const tr_dataset *d, double bias, const char *library, tr_sparse *out, tr_err *err);

void tr_sparse_free(tr_sparse *s);

#endif /* TR_SPARSE_H */
