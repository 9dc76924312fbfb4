/*
 * fuzz_config.c - libFuzzer target for `ferry validate`'s YAML
 * configuration reader (validate/config.c): parse, look inputs up, free.
 * Seeds are configurations scripts/fuzz.sh writes.
 */
#include <stdint.h>
#include <string.h>

#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ferry_vconfig c;
  ferry_err err;
  if (ferry_vconfig_parse("fuzz.yaml", data, size, &c, &err) == 0) {
    volatile int sink = 0;
    for (int i = 0; i < c.n_inputs; i++) sink += ferry_vconfig_input(&c, c.inputs[i].name) != NULL;
    for (int i = 0; i < c.n_outputs; i++) {
      ferry_vlimits l = c.outputs[i].lim;
      ferry_vlimits_inherit(&l, &c.defaults);
      ferry_vlimits_resolve(&l);
      sink += l.elementwise;
    }
    ferry_vconfig_free(&c);
  }
  return 0;
}
