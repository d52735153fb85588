/* What a client or a would-be node controls: the Authorization header, the keys file, and a
 * heartbeat's signature headers and body. The input is split on its first two NUL bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/node_auth.h"
#include "coord/access.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* Fields at the offsets after the first two NULs; "" when the input ends first. */
    size_t at_sig = strlen(text) + 1;
    size_t at_body = at_sig <= size ? at_sig + strlen(text + at_sig) + 1 : size + 1;
    const char *ts = text;
    const char *sig = at_sig <= size ? text + at_sig : "";
    const char *body = at_body <= size ? text + at_body : "";

    char tok[128];
    const char *b = access_bearer(text, tok, sizeof tok);
    if (b && (!*b || strlen(b) >= sizeof tok))
        abort();
    struct access a = {0};
    char err[256];
    (void)access_add_file_text(&a, text, "fuzz", err, sizeof err);
    (void)access_add_list(&a, body, err, sizeof err);
    const struct access_key *who;
    (void)access_check(&a, ACCESS_ADMIN, text, &who);
    access_free(&a);

    static struct node_auth_seen seen;
    int64_t t;
    enum node_auth_result r = node_auth_verify("fuzz-secret-0123456789", ts, sig, body,
                                               strlen(body), 1700000000000, 30000, &seen, &t);
    if (r == NODE_AUTH_OK)
        abort(); /* a valid MAC from random bytes would mean the check is broken */
    free(text);
    return 0;
}
