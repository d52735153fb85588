#include "common/config.h"
#include "common/fsutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hbuf.h"

#define ENV_FILE_MAX (256 * 1024)

static const char *const source_names[] = {"default", "file", "environment", "flag"};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

/* Index of value among "a|b|c" choices, or -1. */
static int enum_index(const char *choices, const char *value)
{
    size_t vlen = strlen(value);
    int idx = 0;
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && strncasecmp(p, value, len) == 0)
            return idx;
        idx++;
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

/* Writes choice number idx of "a|b|c" into out. */
static void enum_name(const char *choices, int idx, char *out, size_t outlen)
{
    const char *p = choices;
    for (int i = 0; p && i < idx; i++) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (!p) {
        snprintf(out, outlen, "?");
        return;
    }
    const char *bar = strchr(p, '|');
    int len = bar ? (int)(bar - p) : (int)strlen(p);
    snprintf(out, outlen, "%.*s", len, p);
}

static bool bounded(const struct cfg_option *o)
{
    return o->min <= o->max && !(o->min == 0 && o->max == 0);
}

static void list_clear(struct cfg_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int list_push(struct cfg_list *l, const char *s, size_t len)
{
    char **p = realloc(l->items, (l->n + 1) * sizeof *p);
    if (!p)
        return -ENOMEM;
    l->items = p;
    l->items[l->n] = strndup(s, len);
    if (!l->items[l->n])
        return -ENOMEM;
    l->n++;
    return 0;
}

/* Sets an option from text. append: for lists, add to the list instead of replacing it. */
static int set_value(const struct cfg_option *o, void *settings, const char *value, bool append,
                     char *err, size_t errlen)
{
    switch (o->type) {
    case CFG_BOOL: {
        bool b;
        if (parse_bool(value, &b)) {
            set_err(err, errlen, "'%s' is not a boolean (use true or false)", value);
            return -EINVAL;
        }
        *CFG_FIELD(settings, o, bool) = b;
        return 0;
    }
    case CFG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        while (*end == ' ')
            end++;
        if (errno || end == value || *end) {
            set_err(err, errlen, "'%s' is not an integer", value);
            return -EINVAL;
        }
        if (bounded(o) && ((double)v < o->min || (double)v > o->max)) {
            set_err(err, errlen, "%lld is out of range %.0f..%.0f", v, o->min, o->max);
            return -EINVAL;
        }
        *CFG_FIELD(settings, o, int64_t) = (int64_t)v;
        return 0;
    }
    case CFG_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        while (*end == ' ')
            end++;
        if (errno || end == value || *end || !isfinite(v)) {
            set_err(err, errlen, "'%s' is not a number", value);
            return -EINVAL;
        }
        if (bounded(o) && (v < o->min || v > o->max)) {
            set_err(err, errlen, "%g is out of range %g..%g", v, o->min, o->max);
            return -EINVAL;
        }
        *CFG_FIELD(settings, o, double) = v;
        return 0;
    }
    case CFG_STRING:
    case CFG_SECRET: {
        char *copy = strdup(value);
        if (!copy)
            return -ENOMEM;
        char **slot = CFG_FIELD(settings, o, char *);
        free(*slot);
        *slot = copy;
        return 0;
    }
    case CFG_ENUM: {
        int idx = enum_index(o->choices, value);
        if (idx < 0) {
            set_err(err, errlen, "'%s' is not one of %s", value, o->choices);
            return -EINVAL;
        }
        *CFG_FIELD(settings, o, int) = idx;
        return 0;
    }
    case CFG_LIST: {
        struct cfg_list *l = CFG_FIELD(settings, o, struct cfg_list);
        if (!append) {
            list_clear(l);
            /* A whole-list value is comma-separated; empty items are dropped. */
            const char *p = value;
            while (*p) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                while (len && *p == ' ') {
                    p++;
                    len--;
                }
                while (len && p[len - 1] == ' ')
                    len--;
                if (len && list_push(l, p, len))
                    return -ENOMEM;
                if (!comma)
                    break;
                p = comma + 1;
            }
            return 0;
        }
        return list_push(l, value, strlen(value));
    }
    }
    return -EINVAL;
}

int cfg_set(const struct cfg_option *opt, void *settings, const char *value, char *err,
            size_t errlen)
{
    char why[256];
    int rc = set_value(opt, settings, value, false, why, sizeof why);
    if (rc)
        set_err(err, errlen, "%s: %s", opt->name, why);
    return rc;
}

int cfg_parse_env_text(const char *text,
                       int (*fn)(const char *key, const char *value, int line, void *arg),
                       void *arg)
{
    int line_no = 0;
    const char *p = text;
    while (*p) {
        line_no++;
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[4096];
        if (len >= sizeof line)
            len = sizeof line - 1;
        memcpy(line, p, len);
        line[len] = '\0';
        p = eol ? eol + 1 : p + strlen(p);

        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
            s[--n] = '\0';
        if (!*s || *s == '#')
            continue;
        if (strncmp(s, "export ", 7) == 0) {
            s += 7;
            while (*s == ' ')
                s++;
        }
        char *eq = strchr(s, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *key = s;
        char *value = eq + 1;
        size_t klen = strlen(key);
        while (klen && key[klen - 1] == ' ')
            key[--klen] = '\0';
        while (*value == ' ')
            value++;
        size_t vlen = strlen(value);
        if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
            value[vlen - 1] = '\0';
            value++;
        }
        int rc = fn(key, value, line_no, arg);
        if (rc)
            return rc;
    }
    return 0;
}

static const struct cfg_option *find_by_env(const struct cfg_spec *spec, const char *key,
                                            size_t *idx)
{
    for (size_t i = 0; i < spec->n_options; i++) {
        if (spec->options[i].env && strcmp(spec->options[i].env, key) == 0) {
            *idx = i;
            return &spec->options[i];
        }
    }
    return NULL;
}

struct file_ctx {
    const struct cfg_spec *spec;
    void *settings;
    struct cfg_status *st;
    const char *path;
    char *err;
    size_t errlen;
};

static int apply_file_line(const char *key, const char *value, int line, void *arg)
{
    struct file_ctx *c = arg;
    size_t idx;
    const struct cfg_option *o = find_by_env(c->spec, key, &idx);
    if (!o)
        return 0; /* the file is shared by several programs: others' keys are not errors */
    char why[256];
    if (set_value(o, c->settings, value, false, why, sizeof why)) {
        set_err(c->err, c->errlen, "%s (%s line %d): %s", key, c->path, line, why);
        return -EINVAL;
    }
    c->st->sources[idx] = CFG_SRC_FILE;
    return 0;
}

static const struct cfg_option *find_by_name(const struct cfg_spec *spec, const char *name,
                                             size_t len, size_t *idx)
{
    for (size_t i = 0; i < spec->n_options; i++) {
        const char *n = spec->options[i].name;
        if (strlen(n) == len && strncmp(n, name, len) == 0) {
            *idx = i;
            return &spec->options[i];
        }
    }
    return NULL;
}

int cfg_load(const struct cfg_spec *spec, void *settings, int argc, char **argv, char **envp,
             const char *env_file, struct cfg_status *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    st->sources = calloc(spec->n_options ? spec->n_options : 1, sizeof *st->sources);
    st->positional = calloc((size_t)(argc > 0 ? argc : 1), sizeof *st->positional);
    if (!st->sources || !st->positional) {
        set_err(err, errlen, "out of memory");
        return -ENOMEM;
    }
    char why[256];

    for (size_t i = 0; i < spec->n_options; i++) {
        const struct cfg_option *o = &spec->options[i];
        if (o->type == CFG_STRING || o->type == CFG_SECRET)
            *CFG_FIELD(settings, o, char *) = NULL;
        if (o->type == CFG_LIST)
            memset(CFG_FIELD(settings, o, struct cfg_list), 0, sizeof(struct cfg_list));
        int rc = 0;
        if (o->type == CFG_ENUM && !o->def) {
            *CFG_FIELD(settings, o, int) = 0;
        } else {
            const char *def = o->def;
            if (!def)
                def = o->type == CFG_STRING || o->type == CFG_SECRET || o->type == CFG_LIST ? ""
                                                                                            : "0";
            rc = set_value(o, settings, def, false, why, sizeof why);
        }
        if (rc) {
            set_err(err, errlen, "default of --%s: %s", o->name, why);
            return -EINVAL;
        }
    }

    if (env_file) {
        struct hbuf text;
        hbuf_init(&text, ENV_FILE_MAX);
        int rc = fsutil_read_file(env_file, &text);
        if (rc == 0 && text.data) {
            struct file_ctx c = {spec, settings, st, env_file, err, errlen};
            rc = cfg_parse_env_text(text.data, apply_file_line, &c);
            hbuf_free(&text);
            if (rc)
                return rc;
        } else {
            hbuf_free(&text);
            if (rc == -EMSGSIZE) {
                set_err(err, errlen, "%s: larger than %d bytes", env_file, ENV_FILE_MAX);
                return -EINVAL;
            }
            /* A missing env file is the normal case; one that cannot be read is not. */
            if (rc && rc != -ENOENT) {
                set_err(err, errlen, "cannot read %s: %s", env_file, strerror(-rc));
                return -EINVAL;
            }
        }
    }

    for (char **e = envp; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char key[128];
        size_t klen = (size_t)(eq - *e);
        if (klen >= sizeof key)
            continue;
        memcpy(key, *e, klen);
        key[klen] = '\0';
        size_t idx;
        const struct cfg_option *o = find_by_env(spec, key, &idx);
        if (!o)
            continue;
        if (set_value(o, settings, eq + 1, false, why, sizeof why)) {
            set_err(err, errlen, "%s (environment): %s", key, why);
            return -EINVAL;
        }
        st->sources[idx] = CFG_SRC_ENV;
    }

    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || a[1] == '\0') {
            st->positional[st->n_positional++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            st->help = true;
            continue;
        }
        if (strcmp(a, "--help-markdown") == 0) {
            st->help_markdown = true;
            continue;
        }
        if (strcmp(a, "--help-man") == 0) {
            st->help_man = true;
            continue;
        }
        if (strcmp(a, "--version") == 0) {
            st->version = true;
            continue;
        }
        if (a[1] != '-') {
            set_err(err, errlen, "unknown option %s (see --help)", a);
            return -EINVAL;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        size_t idx;
        const struct cfg_option *o = find_by_name(spec, name, nlen, &idx);
        bool negated = false;
        if (!o && nlen > 3 && strncmp(name, "no-", 3) == 0) {
            o = find_by_name(spec, name + 3, nlen - 3, &idx);
            if (o && o->type == CFG_BOOL && !eq)
                negated = true;
            else
                o = NULL;
        }
        if (!o) {
            set_err(err, errlen, "unknown option --%.*s (see --help)", (int)nlen, name);
            return -EINVAL;
        }
        const char *value;
        if (negated) {
            value = "false";
        } else if (eq) {
            value = eq + 1;
        } else if (o->type == CFG_BOOL) {
            value = "true";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            set_err(err, errlen, "--%s needs a value", o->name);
            return -EINVAL;
        }
        /* The first flag of a list replaces what the environment gave; later ones add. */
        bool append = o->type == CFG_LIST && st->sources[idx] == CFG_SRC_FLAG;
        if (o->type == CFG_LIST && !append)
            list_clear(CFG_FIELD(settings, o, struct cfg_list));
        if (set_value(o, settings, value, o->type == CFG_LIST, why, sizeof why)) {
            set_err(err, errlen, "--%s: %s", o->name, why);
            return -EINVAL;
        }
        st->sources[idx] = CFG_SRC_FLAG;
    }
    return 0;
}

void cfg_free(const struct cfg_spec *spec, void *settings)
{
    for (size_t i = 0; i < spec->n_options; i++) {
        const struct cfg_option *o = &spec->options[i];
        if (o->type == CFG_STRING || o->type == CFG_SECRET) {
            char **slot = CFG_FIELD(settings, o, char *);
            free(*slot);
            *slot = NULL;
        } else if (o->type == CFG_LIST) {
            list_clear(CFG_FIELD(settings, o, struct cfg_list));
        }
    }
}

void cfg_status_free(struct cfg_status *st)
{
    if (!st)
        return;
    free(st->sources);
    free(st->positional);
    st->sources = NULL;
    st->positional = NULL;
    st->n_positional = 0;
}

static const char *type_metavar(const struct cfg_option *o)
{
    if (o->metavar)
        return o->metavar;
    switch (o->type) {
    case CFG_INT:
        return "N";
    case CFG_DOUBLE:
        return "X";
    case CFG_ENUM:
        return o->choices;
    case CFG_LIST:
        return "ITEM";
    default:
        return "TEXT";
    }
}

void cfg_print_help(const struct cfg_spec *spec, FILE *out)
{
    fprintf(out, "Usage: %s %s\n", spec->program, spec->usage ? spec->usage : "[options]");
    if (spec->summary)
        fprintf(out, "%s\n", spec->summary);
    fprintf(out, "\nOptions (flag > environment > env file > default):\n");
    for (size_t i = 0; i < spec->n_options; i++) {
        const struct cfg_option *o = &spec->options[i];
        char flag[128];
        if (o->type == CFG_BOOL)
            snprintf(flag, sizeof flag, "--%s[=BOOL]", o->name);
        else
            snprintf(flag, sizeof flag, "--%s %s", o->name, type_metavar(o));
        fprintf(out, "  %-30s %s\n", flag, o->help ? o->help : "");
        char extra[256];
        int n = 0;
        extra[0] = '\0';
        if (o->env)
            n += snprintf(extra + n, sizeof extra - (size_t)n, "env %s", o->env);
        if (o->def && *o->def)
            n += snprintf(extra + n, sizeof extra - (size_t)n, "%sdefault %s", n ? "; " : "",
                          o->def);
        if ((o->type == CFG_INT || o->type == CFG_DOUBLE) && bounded(o))
            n += snprintf(extra + n, sizeof extra - (size_t)n, "%srange %g..%g", n ? "; " : "",
                          o->min, o->max);
        if (o->type == CFG_LIST)
            snprintf(extra + n, sizeof extra - (size_t)n, "%srepeatable", n ? "; " : "");
        if (extra[0])
            fprintf(out, "  %-30s (%s)\n", "", extra);
    }
    fprintf(out, "  %-30s %s\n", "-h, --help", "Show this help and exit");
    fprintf(out, "  %-30s %s\n", "--version", "Show the version and exit");
    if (spec->epilog)
        fprintf(out, "\n%s", spec->epilog);
}

/* Writes text for a markdown table cell: pipes escaped. */
static void md_cell(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void cfg_print_markdown(const struct cfg_spec *spec, FILE *out)
{
    fprintf(out, "| flag | environment | default | range | meaning |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < spec->n_options; i++) {
        const struct cfg_option *o = &spec->options[i];
        char range[64] = "";
        if ((o->type == CFG_INT || o->type == CFG_DOUBLE) && bounded(o))
            snprintf(range, sizeof range, "%g..%g", o->min, o->max);
        else if (o->type == CFG_ENUM)
            snprintf(range, sizeof range, "%s", o->choices);
        else if (o->type == CFG_LIST)
            snprintf(range, sizeof range, "repeatable");
        fprintf(out, "| `--%s` | ", o->name);
        if (o->env)
            fprintf(out, "`%s`", o->env);
        fprintf(out, " | ");
        md_cell(out, o->def && *o->def ? o->def : "");
        fprintf(out, " | ");
        md_cell(out, range);
        fprintf(out, " | ");
        md_cell(out, o->help);
        fprintf(out, " |\n");
    }
}

/* Text for roff: a backslash doubled, a leading dot or quote kept from being a request. */
static void man_text(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

void cfg_print_man(const struct cfg_spec *spec, FILE *out)
{
    for (size_t i = 0; i < spec->n_options; i++) {
        const struct cfg_option *o = &spec->options[i];
        fprintf(out, ".TP\n.B \\-\\-");
        man_text(out, o->name);
        if (o->type != CFG_BOOL) {
            fprintf(out, " \\fI");
            man_text(out, type_metavar(o));
            fprintf(out, "\\fR");
        }
        fprintf(out, "\n");
        man_text(out, o->help);
        fprintf(out, ".");
        if (o->env) {
            fprintf(out, " Environment: \\fB");
            man_text(out, o->env);
            fprintf(out, "\\fR.");
        }
        if (o->def && *o->def) {
            fprintf(out, " Default: ");
            man_text(out, o->def);
            fprintf(out, ".");
        }
        if ((o->type == CFG_INT || o->type == CFG_DOUBLE) && bounded(o))
            fprintf(out, " Range: %g to %g.", o->min, o->max);
        if (o->type == CFG_BOOL)
            fprintf(out, " Turn off with \\fB\\-\\-no\\-%s\\fR.", o->name);
        fprintf(out, "\n");
    }
}

static json_t *value_json(const struct cfg_option *o, const void *settings)
{
    void *s = (void *)settings;
    switch (o->type) {
    case CFG_BOOL:
        return json_boolean(*CFG_FIELD(s, o, bool));
    case CFG_INT:
        return json_integer((json_int_t)*CFG_FIELD(s, o, int64_t));
    case CFG_DOUBLE:
        return json_real(*CFG_FIELD(s, o, double));
    case CFG_STRING: {
        const char *v = *CFG_FIELD(s, o, char *);
        return json_string(v ? v : "");
    }
    case CFG_SECRET: {
        const char *v = *CFG_FIELD(s, o, char *);
        return json_string(v && *v ? "(set)" : "");
    }
    case CFG_ENUM: {
        char name[64];
        enum_name(o->choices, *CFG_FIELD(s, o, int), name, sizeof name);
        return json_string(name);
    }
    case CFG_LIST: {
        const struct cfg_list *l = CFG_FIELD(s, o, struct cfg_list);
        json_t *a = json_array();
        for (size_t i = 0; i < l->n; i++)
            json_array_append_new(a, json_string(l->items[i]));
        return a;
    }
    }
    return json_null();
}

json_t *cfg_to_json(const struct cfg_spec *spec, const void *settings,
                    const enum cfg_source *sources)
{
    static const char *const type_names[] = {"bool", "int",  "number", "string",
                                             "enum", "list", "secret"};
    json_t *arr = json_array();
    for (size_t i = 0; i < spec->n_options; i++) {
        const struct cfg_option *o = &spec->options[i];
        json_t *row = json_object();
        json_object_set_new(row, "name", json_string(o->name));
        json_object_set_new(row, "env", o->env ? json_string(o->env) : json_null());
        json_object_set_new(row, "type", json_string(type_names[o->type]));
        json_object_set_new(row, "value", value_json(o, settings));
        json_object_set_new(row, "default", json_string(o->def ? o->def : ""));
        if (o->type == CFG_ENUM)
            json_object_set_new(row, "choices", json_string(o->choices));
        if ((o->type == CFG_INT || o->type == CFG_DOUBLE) && bounded(o)) {
            json_object_set_new(row, "min", json_real(o->min));
            json_object_set_new(row, "max", json_real(o->max));
        }
        json_object_set_new(row, "source",
                            json_string(source_names[sources ? sources[i] : CFG_SRC_DEFAULT]));
        json_object_set_new(row, "help", json_string(o->help ? o->help : ""));
        json_array_append_new(arr, row);
    }
    return arr;
}

char *cfg_default_env_file(char **envp, char *out, size_t outlen)
{
    const char *home = NULL, *explicit_file = NULL;
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, "FLEET_ENV_FILE=", 15) == 0)
            explicit_file = *e + 15;
        else if (strncmp(*e, "HOME=", 5) == 0)
            home = *e + 5;
    }
    if (explicit_file && *explicit_file) {
        snprintf(out, outlen, "%s", explicit_file);
        return out;
    }
    if (!home || !*home)
        return NULL;
    snprintf(out, outlen, "%s/.fleet-manager/env", home);
    return out;
}

int cfg_program_start(const struct cfg_spec *spec, void *settings, int argc, char **argv,
                      const char *env_file, const char *program, struct cfg_status *st)
{
    char err[512] = "";
    extern char **environ;
    if (cfg_load(spec, settings, argc, argv, environ, env_file, st, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", program, err);
        return -1;
    }
    if (st->help_markdown) {
        cfg_print_markdown(spec, stdout);
        return 1;
    }
    if (st->help_man) {
        cfg_print_man(spec, stdout);
        return 1;
    }
    if (st->help) {
        cfg_print_help(spec, stdout);
        return 1;
    }
    if (st->version) {
        printf("%s %s\n", program, HERD_VERSION);
        return 1;
    }
    return 0;
}
