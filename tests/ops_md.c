/*
 * ops_md.c - prints docs/ops.md from the op registry:
 *   tests/ops_md > docs/ops.md
 */
#include <stdio.h>

#include "ops_doc.h"

int main(void) { return ferry_ops_markdown(stdout); }
