/* sim_manage: copy, create, push and blobs on a simulated node. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hbuf.h"
#include "common/jsonx.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/timeutil.h"
#include "sim/sim_call.h"
#include "sim/sim_manage.h"

#define BLOB_PREFIX "/api/blobs/"

/* Answers with status lines: streamed as NDJSON, or only the last one. */
static void reply_lines(struct httpd_req *r, json_t *lines, bool stream)
{
    if (!stream) {
        json_t *last = json_array_get(lines, json_array_size(lines) - 1);
        httpd_reply_json(r, 200, NULL, json_incref(last), false);
        json_decref(lines);
        return;
    }
    struct hbuf b;
    hbuf_init(&b, 1 << 20);
    size_t i;
    json_t *o;
    json_array_foreach (lines, i, o) {
        jsonx_dump_append(o, &b);
        hbuf_append(&b, "\n", 1);
    }
    json_decref(lines);
    httpd_stream_start(r, 200, "application/x-ndjson");
    httpd_stream_write(r, b.data, b.len);
    httpd_stream_end(r);
    hbuf_free(&b);
}

/* A fault armed on this path (and model) for this request: answered, true. */
static bool faulted(struct sim_node *n, struct httpd_req *r, const char *model, const char *path)
{
    struct sim_fault f;
    if (!sim_faults_take(&n->faults, model, path, &f) || f.kind != SIM_FAULT_FAIL)
        return false;
    httpd_reply_error(r, f.status, f.message);
    return true;
}

/* ---- copy ---- */

static void handle_copy(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    sim_node_log_request(n, r);
    json_t *body = sim_read_body(r);
    if (!body)
        return;
    const char *src = jsonx_str(body, "source"), *dst = jsonx_str(body, "destination");
    char src_norm[SIM_NAME_MAX], dst_norm[SIM_NAME_MAX], msg[400];
    struct sim_model_spec *s = NULL;
    if (!src || !*src || !dst || !*dst) {
        httpd_reply_error(r, 400, "source and destination are required");
    } else if (model_name_normalize(src, src_norm, sizeof src_norm) != 0) {
        snprintf(msg, sizeof msg, "source \"%s\" is invalid", src);
        httpd_reply_error(r, 400, msg);
    } else if (model_name_normalize(dst, dst_norm, sizeof dst_norm) != 0) {
        snprintf(msg, sizeof msg, "destination \"%s\" is invalid", dst);
        httpd_reply_error(r, 400, msg);
    } else if (faulted(n, r, src_norm, "/api/copy")) {
    } else if (!(s = sim_machine_model(&n->machine, src_norm))) {
        snprintf(msg, sizeof msg, "model \"%s\" not found", src);
        httpd_reply_error(r, 404, msg);
    } else {
        /* The same manifest under another name: the same digest. */
        struct sim_model_spec copy = *s;
        snprintf(copy.name, sizeof copy.name, "%s", dst_norm);
        copy.modified_at = time_wall();
        if (sim_machine_add_model(&n->machine, &copy) != 0) {
            httpd_reply_error(r, 500, "out of memory");
        } else {
            LOG_INFO("node %s: copied %s to %s", n->machine.spec.name, src_norm, dst_norm);
            httpd_reply(r, 200, NULL, NULL, 0);
        }
    }
    json_decref(body);
}

/* ---- blobs ---- */

static struct sim_blob *blob_find(struct sim_node *n, const char *digest)
{
    for (size_t i = 0; i < n->n_blobs; i++)
        if (strcmp(n->blobs[i].digest, digest) == 0)
            return &n->blobs[i];
    return NULL;
}

/* "sha256:" and 64 lower-case hex digits. */
static bool valid_digest(const char *d)
{
    if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 7 + 64)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static void handle_blob(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    sim_node_log_request(n, r);
    const char *digest = httpd_req_path(r) + strlen(BLOB_PREFIX);
    char msg[300];
    if (!valid_digest(digest)) {
        snprintf(msg, sizeof msg, "invalid digest format");
        httpd_reply_error(r, 400, msg);
        return;
    }
    if (faulted(n, r, NULL, "/api/blobs"))
        return;
    if (httpd_req_method(r) == HTTPD_HEAD) {
        if (blob_find(n, digest)) {
            httpd_reply(r, 200, NULL, NULL, 0);
        } else {
            snprintf(msg, sizeof msg, "blob \"%s\" not found", digest);
            httpd_reply_error(r, 404, msg);
        }
        return;
    }
    size_t len;
    const char *data = httpd_req_body(r, &len);
    char hex[SECRET_SHA256_HEX];
    if (secret_sha256_hex(data ? data : "", len, hex) != 0) {
        httpd_reply_error(r, 500, "cannot hash the blob");
        return;
    }
    if (strcmp(hex, digest + 7) != 0) {
        snprintf(msg, sizeof msg, "digest mismatch, expected \"%s\", got \"sha256:%s\"", digest,
                 hex);
        httpd_reply_error(r, 400, msg);
        return;
    }
    if (blob_find(n, digest)) {
        httpd_reply(r, 200, NULL, NULL, 0);
        return;
    }
    if (n->n_blobs >= SIM_BLOBS_MAX) {
        httpd_reply_error(r, 507, "the simulator keeps at most 256 blobs");
        return;
    }
    struct sim_blob *grown = realloc(n->blobs, (n->n_blobs + 1) * sizeof *grown);
    if (!grown) {
        httpd_reply_error(r, 500, "out of memory");
        return;
    }
    n->blobs = grown;
    struct sim_blob *b = &n->blobs[n->n_blobs++];
    snprintf(b->digest, sizeof b->digest, "%s", digest);
    b->size = (int64_t)len;
    httpd_reply(r, 201, NULL, NULL, 0);
}

/* ---- create ---- */

/* Bits per weight of a quantisation, to size a quantized model. */
static double quant_bits(const char *q)
{
    static const struct {
        const char *name;
        double bits;
    } t[] = {{"F32", 32},     {"F16", 16},     {"BF16", 16},    {"Q8_0", 8.5},
             {"Q6_K", 6.6},   {"Q5_K_M", 5.7}, {"Q5_0", 5.5},   {"Q4_K_M", 4.85},
             {"Q4_K_S", 4.6}, {"Q4_0", 4.5},   {"Q3_K_M", 3.9}, {"Q3_K_S", 3.5}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcasecmp(q, t[i].name) == 0)
            return t[i].bits;
    return 0;
}

static void status_line(json_t *lines, const char *fmt, const char *arg)
{
    char s[200];
    snprintf(s, sizeof s, fmt, arg);
    json_array_append_new(lines, json_pack("{s:s}", "status", s));
}

/* The layers a create writes for the request's own fields (template, system, ...). */
static void new_layers(json_t *lines, const json_t *body)
{
    static const char *const fields[] = {"template", "system",     "license",
                                         "messages", "parameters", "adapters"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const json_t *v = json_object_get(body, fields[i]);
        if (!v)
            continue;
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        char hex[SECRET_SHA256_HEX] = "";
        if (text)
            secret_sha256_hex(text, strlen(text), hex);
        free(text);
        status_line(lines, "creating new layer sha256:%s", hex);
    }
}

/* Checks "files" ({name: "sha256:..."}, every blob uploaded) and adds their sizes to *bytes.
 * NULL, or the reason for a 400. */
static const char *check_files(struct sim_node *n, const json_t *files, json_t *lines,
                               int64_t *bytes, char *msg, size_t msglen)
{
    if (!json_is_object(files))
        return "files must be an object of file names to digests";
    const char *file;
    const json_t *v;
    json_object_foreach ((json_t *)files, file, v) {
        const char *d = json_string_value(v);
        const struct sim_blob *b = d ? blob_find(n, d) : NULL;
        if (!b) {
            snprintf(msg, msglen, "file %s: blob %s not found", file, d ? d : "(none)");
            return msg;
        }
        *bytes += b->size;
        status_line(lines, "using existing layer %s", d);
    }
    return NULL;
}

static void handle_create(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    sim_node_log_request(n, r);
    json_t *body = sim_read_body(r);
    if (!body)
        return;
    const char *name = jsonx_str(body, "model");
    if (!name || !*name)
        name = jsonx_str(body, "name");
    const char *from = jsonx_str(body, "from");
    const json_t *files = json_object_get(body, "files");
    const char *quantize = jsonx_str(body, "quantize");
    bool stream = jsonx_bool_or(body, "stream", true);
    char norm[SIM_NAME_MAX], from_norm[SIM_NAME_MAX], msg[400];
    json_t *lines = json_array();
    struct sim_model_spec spec;
    const char *bad = NULL;
    int status = 400;
    if (!name || !*name)
        bad = "model is required";
    else if (model_name_normalize(name, norm, sizeof norm) != 0)
        bad = "invalid model name";
    else if ((!from || !*from) && !files)
        bad = "neither 'from' or 'files' was specified";
    else if (quantize && quant_bits(quantize) == 0)
        bad = "unsupported quantization type";
    if (!bad && faulted(n, r, norm, "/api/create")) {
        json_decref(lines);
        json_decref(body);
        return;
    }
    if (!bad && files) {
        int64_t bytes = 0;
        status_line(lines, "%s", "parsing GGUF");
        bad = check_files(n, files, lines, &bytes, msg, sizeof msg);
        if (!bad)
            sim_catalog_describe(norm, fmax((double)bytes / 1e9, 0.001), &spec);
    } else if (!bad) {
        const struct sim_model_spec *base =
            model_name_normalize(from, from_norm, sizeof from_norm) == 0
                ? sim_machine_model(&n->machine, from_norm)
                : NULL;
        if (!base) {
            snprintf(msg, sizeof msg, "model '%s' not found", from);
            bad = msg;
            status = 404;
        } else {
            spec = *base;
            status_line(lines, "using existing layer sha256:%s", base->digest);
        }
    }
    if (bad) {
        httpd_reply_error(r, status, bad);
        json_decref(lines);
        json_decref(body);
        return;
    }
    if (quantize) {
        double from_bits = quant_bits(spec.quantization);
        char s[120];
        snprintf(s, sizeof s, "quantizing %s model to %s", spec.quantization, quantize);
        json_int_t tensors = 291;
        json_array_append_new(
            lines, json_pack("{s:s, s:s, s:I}", "status", s, "digest", "0", "total", tensors));
        json_array_append_new(lines, json_pack("{s:s, s:s, s:I, s:I}", "status", s, "digest", "0",
                                               "total", tensors, "completed", tensors));
        if (from_bits > 0)
            spec.size_gb *= quant_bits(quantize) / from_bits;
        snprintf(spec.quantization, sizeof spec.quantization, "%s", quantize);
        for (char *p = spec.quantization; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
    }
    new_layers(lines, body);
    /* A new manifest: its digest depends on the name and on everything the request set. */
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    struct hbuf seed;
    hbuf_init(&seed, 1 << 20);
    hbuf_append(&seed, norm, strlen(norm));
    if (text)
        hbuf_append(&seed, text, strlen(text));
    free(text);
    secret_sha256_hex(seed.data, seed.len, spec.digest);
    hbuf_free(&seed);
    snprintf(spec.name, sizeof spec.name, "%s", norm);
    spec.modified_at = time_wall();
    json_decref(body);
    if (sim_machine_add_model(&n->machine, &spec) != 0) {
        json_decref(lines);
        httpd_reply_error(r, 500, "out of memory");
        return;
    }
    status_line(lines, "%s", "writing manifest");
    status_line(lines, "%s", "success");
    LOG_INFO("node %s: created %s (%.2f GB)", n->machine.spec.name, norm, spec.size_gb);
    reply_lines(r, lines, stream);
}

/* ---- push ---- */

/* The registry takes no push without credentials, which a simulated node never has. */
static void handle_push(struct httpd_req *r, void *arg)
{
    struct sim_node *n = arg;
    sim_node_log_request(n, r);
    json_t *body = sim_read_body(r);
    if (!body)
        return;
    const char *name = jsonx_str(body, "model");
    if (!name || !*name)
        name = jsonx_str(body, "name");
    bool stream = jsonx_bool_or(body, "stream", true);
    char norm[SIM_NAME_MAX], msg[400];
    if (!name || !*name) {
        httpd_reply_error(r, 400, "model is required");
    } else if (model_name_normalize(name, norm, sizeof norm) != 0) {
        httpd_reply_error(r, 400, "invalid model name");
    } else if (faulted(n, r, norm, "/api/push")) {
    } else {
        json_t *lines = json_array();
        status_line(lines, "%s", "retrieving manifest");
        if (!sim_machine_model(&n->machine, norm)) {
            status_line(lines, "%s", "couldn't retrieve manifest");
            snprintf(msg, sizeof msg, "open %s: no such file or directory", norm);
        } else {
            snprintf(msg, sizeof msg,
                     "you are not authorized to push to this namespace, create the model under "
                     "a namespace you own");
        }
        if (stream) {
            json_array_append_new(lines, json_pack("{s:s}", "error", msg));
            reply_lines(r, lines, true);
        } else {
            json_decref(lines);
            httpd_reply_error(r, 500, msg);
        }
    }
    json_decref(body);
}

void sim_manage_routes(struct sim_node *n)
{
    struct httpd *h = n->httpd;
    httpd_route(h, HTTPD_POST, "/api/copy", handle_copy, n);
    httpd_route(h, HTTPD_POST, "/api/create", handle_create, n);
    httpd_route(h, HTTPD_POST, "/api/push", handle_push, n);
    httpd_route(h, HTTPD_HEAD | HTTPD_POST, BLOB_PREFIX "*", handle_blob, n);
}
