/* log: level-gated logging to stderr (for people) and to a JSON-lines file (for tools).
 *
 * The LOG_* macros test the level before evaluating their arguments, so a disabled debug line
 * costs one comparison. The file sink writes one JSON object per line, rotates at UTC
 * midnight to "<name>.YYYY-MM-DD", and keeps a fixed number of rotated files. */
#ifndef HERD_LOG_H
#define HERD_LOG_H

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3,
    LOG_LEVEL_OFF = 4,
};

/* The lowest level that some sink wants; maintained by log_open. */
extern int log_threshold;

#define LOG_AT(level, ...)                                                                         \
    do {                                                                                           \
        if ((int)(level) >= log_threshold)                                                         \
            log_emit((level), __VA_ARGS__);                                                        \
    } while (0)
#define LOG_DEBUG(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_WARN(...) LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_ERROR(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)

struct log_options {
    const char *program;         /* "logger" field and stderr prefix; borrowed, must outlive */
    enum log_level stderr_level; /* LOG_LEVEL_OFF: nothing on stderr */
    enum log_level file_level;   /* LOG_LEVEL_OFF: no file */
    const char *dir;             /* directory of the file log, created if missing */
    const char *file_name;       /* e.g. "herd.jsonl" */
    int retention;               /* rotated files kept */
    double (*clock)(void);       /* wall clock; NULL = the real one (tests set their own) */
};

/* Configures the sinks (copies what it needs from o). Returns 0, or -errno when the log
 * directory or file cannot be opened; stderr logging works in either case. */
int log_open(const struct log_options *o);

/* Opens the log of a program that keeps its data in data_dir (created if missing):
 * DATA_DIR/logs/PROGRAM.jsonl at file_level, 30 days kept, and standard error at
 * console_level (level names, as log_level_parse reads them). program is borrowed and must
 * outlive logging. Returns 0; -EINVAL when a level is not a level name (nothing opened); or
 * the negative errno of creating data_dir, with logging on standard error only. */
int log_open_data_dir(const char *program, const char *data_dir, const char *file_level,
                      const char *console_level);

/* Closes the file sink; stderr stays at its level. */
void log_close(void);

/* Parses "debug", "info", "warn"/"warning", "error", "off" (any case). 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);

/* Name of a level in upper case ("INFO"). */
const char *log_level_name(enum log_level level);

/* Writes one message to every sink that wants its level. Use the LOG_* macros instead. Long
 * messages are truncated to a few KiB. */
void log_emit(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
