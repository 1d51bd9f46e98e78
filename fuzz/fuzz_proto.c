/* The .proto parser on arbitrary text (imports resolve only to the built-ins), then a render of
 * the input bytes with every message type it defined: no crash, no leak, bounded. */
#include <stddef.h>
#include <stdint.h>

#include "pb/pb_schema.h"
#include "view/view_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pb_schemas *s;
    char err[256];
    if (size > 65536 || pb_schemas_new(&s, NULL))
        return 0;
    if (pb_schemas_parse_proto(s, "f.proto", (const char *)data, size, NULL, 0, err, sizeof err) == 0) {
        const pb_filedef *f = pb_schemas_find_file(s, "f.proto");
        gw_buf b;
        gw_buf_init(&b, 1 << 20);
        for (size_t i = 0; f && i < f->n_messages; i++) {
            view_schema_json(&b, s, f->messages[i], data, size, NULL);
            view_schema_text(&b, s, f->messages[i], data, size, 0, NULL);
            gw_buf_reset(&b);
        }
        gw_buf_free(&b);
    }
    pb_schemas_del(s);
    return 0;
}
