/* The descriptor loader: arbitrary bytes as a FileDescriptorSet and as a reflection response
 * (on top of the built-ins, so references resolve), then every message type rendered over the
 * same bytes with the JSON, text, short and tree renderers. The one-pass JSON and short ways
 * must write what the general ways write. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pb/pb_schema.h"
#include "view/view_pb.h"
#include "view/view_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pb_schemas *s;
    char err[256];
    if (size > 1 << 20 || pb_schemas_new(&s, NULL))
        return 0;
    pb_schemas_add_builtin(s);
    pb_schemas_load_descset(s, data, size, err, sizeof err);
    pb_schemas_learn_reflection(s, data, size);
    gw_buf b, g;
    gw_buf_init(&b, 1 << 20);
    gw_buf_init(&g, 1 << 20);
    for (size_t k = 0; k < pb_schemas_n_files(s); k++) {
        const pb_filedef *f = pb_schemas_file(s, k);
        if (f->builtin)
            continue;
        for (size_t i = 0; i < f->n_messages; i++) {
            view_schema_json(&b, s, f->messages[i], data, size, NULL);
            view_schema_text(&b, s, f->messages[i], data, size, 0, NULL);
            view_schema_short(&b, s, f->messages[i], data, size, 60);
            view_schema_tree(&b, s, f->messages[i], data, size, 1, NULL);
            gw_buf_reset(&b);
            view_schema_json(&b, s, f->messages[i], data, size, NULL);
            view_schema_short(&b, s, f->messages[i], data, size, 60);
            view_schema_force_general(1);
            view_pb_force_general(1);
            view_schema_json(&g, s, f->messages[i], data, size, NULL);
            view_schema_short(&g, s, f->messages[i], data, size, 60);
            view_schema_force_general(0);
            view_pb_force_general(0);
            if (b.len != g.len || (b.len && memcmp(b.data, g.data, b.len)))
                abort();
            gw_buf_reset(&b);
            gw_buf_reset(&g);
        }
    }
    gw_buf_free(&b);
    gw_buf_free(&g);
    pb_schemas_del(s);
    return 0;
}
