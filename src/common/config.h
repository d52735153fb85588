/* config: every setting of a program is one row of a table.
 *
 * A row names the command-line flag, the environment variable, the type, the default, the
 * bounds and the help text. From the table come parsing, validation, --help and the settings
 * dump. Precedence, highest first: flag, environment, the env file (KEY=value lines, by
 * default ~/.fleet-manager/env), default. */
#ifndef HERD_CONFIG_H
#define HERD_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cfg_type {
    CFG_BOOL,   /* bool */
    CFG_INT,    /* int64_t, bounded by min..max */
    CFG_DOUBLE, /* double, bounded by min..max */
    CFG_STRING, /* char *, owned by the settings (cfg_free releases it) */
    CFG_ENUM,   /* int: index into the '|'-separated choices */
    CFG_LIST,   /* struct cfg_list; a flag may repeat; env values are comma-separated */
    CFG_SECRET, /* char *, like CFG_STRING, but never shown: the settings dump says "(set)" */
};

enum cfg_source { CFG_SRC_DEFAULT, CFG_SRC_FILE, CFG_SRC_ENV, CFG_SRC_FLAG };

struct cfg_list {
    char **items; /* owned */
    size_t n;
};

struct cfg_option {
    const char *name; /* flag without the dashes: "port" gives --port */
    const char *env;  /* environment variable, or NULL for flag-only settings */
    enum cfg_type type;
    size_t offset;       /* offsetof() the value in the settings struct */
    const char *def;     /* default as text; NULL means false, 0, empty */
    double min, max;     /* bounds for CFG_INT and CFG_DOUBLE; ignored when min > max */
    const char *choices; /* CFG_ENUM: "strip|warn|passthrough" */
    const char *metavar; /* placeholder in --help: "PORT" */
    const char *help;
};

struct cfg_spec {
    const char *program; /* "herd" */
    const char *summary; /* one line under the usage line */
    const char *usage;   /* "[options]" or "[options] capacity full|paused|auto" */
    const struct cfg_option *options;
    size_t n_options;
    const char *epilog; /* printed after the options (examples, notes), may be NULL */
};

/* What cfg_load found besides the settings. */
struct cfg_status {
    enum cfg_source *sources; /* one per option; owned, freed by cfg_status_free */
    char **positional;        /* arguments that are not options, borrowed from argv */
    int n_positional;
    bool help;          /* --help or -h was given */
    bool help_markdown; /* --help-markdown: the options as a markdown table (for docs) */
    bool help_man;      /* --help-man: the options as roff, for the man pages */
    bool version;       /* --version was given */
};

/* Fills the settings struct from the table: defaults, then env_file (may be NULL or missing),
 * then envp (NULL-terminated "KEY=value" strings, may be NULL), then argv[1..]. On error
 * returns -EINVAL with a message naming the flag or variable in err; the settings may then be
 * partly filled and must still be released with cfg_free. */
int cfg_load(const struct cfg_spec *spec, void *settings, int argc, char **argv, char **envp,
             const char *env_file, struct cfg_status *st, char *err, size_t errlen);

/* The start of a program's main: loads the settings (cfg_load) and answers --help,
 * --help-markdown and --version on stdout. Returns 0 to go on; 1 when the program should exit
 * 0 (it printed help or its version); -1 when it should exit 1 (the reason is on stderr as
 * "PROGRAM: reason"). Positional arguments are left in st for the caller. */
int cfg_program_start(const struct cfg_spec *spec, void *settings, int argc, char **argv,
                      const char *env_file, const char *program, struct cfg_status *st);

/* Releases what cfg_load allocated in the settings (strings and lists). */
void cfg_free(const struct cfg_spec *spec, void *settings);

/* Releases a status. Accepts a zeroed status. */
void cfg_status_free(struct cfg_status *st);

/* Writes the help text generated from the table. */
void cfg_print_help(const struct cfg_spec *spec, FILE *out);

/* Writes the options as the body of a man page's OPTIONS section (roff). */
void cfg_print_man(const struct cfg_spec *spec, FILE *out);

/* Writes the options as a markdown table (for docs/). */
void cfg_print_markdown(const struct cfg_spec *spec, FILE *out);

/* The settings as a JSON array of {name, env, type, value, default, source, help}; a new
 * reference for the caller. sources may be NULL. */
json_t *cfg_to_json(const struct cfg_spec *spec, const void *settings,
                    const enum cfg_source *sources);

/* Sets one option from text, as if given with its flag; used for runtime settings. Returns 0
 * or -EINVAL with a message in err. */
int cfg_set(const struct cfg_option *opt, void *settings, const char *value, char *err,
            size_t errlen);

/* The env file to read: $FLEET_ENV_FILE if set in envp, else $HOME/.fleet-manager/env.
 * Returns out, or NULL when neither can be known. */
char *cfg_default_env_file(char **envp, char *out, size_t outlen);

/* Calls fn for every KEY=value line of an env file's text: '#' comments and blank lines are
 * skipped, an "export " prefix is allowed, matching quotes around the value are removed.
 * Stops when fn returns non-zero and returns that value. key and value are borrowed. */
int cfg_parse_env_text(const char *text,
                       int (*fn)(const char *key, const char *value, int line, void *arg),
                       void *arg);

/* Convenience accessors for the value of option row opt in settings. */
#define CFG_FIELD(settings, opt, type) ((type *)((char *)(settings) + (opt)->offset))

#endif
