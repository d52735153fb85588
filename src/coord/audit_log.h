/* audit_log: DATA_DIR/logs/audit.jsonl, one JSON object per line for every action that
 * changes the fleet and every refused authentication: when, who, what, from where, outcome.
 *
 * Lines are appended with one write() each (O_APPEND), so they stay whole even when another
 * program reads or rotates the file; the file is reopened when it was moved away (logrotate).
 * Small writes to a local file, as the rest of herd's logging does. */
#ifndef HERD_AUDIT_LOG_H
#define HERD_AUDIT_LOG_H

#include <jansson.h>

struct audit_log;

/* Opens (creating) DIR/logs/audit.jsonl. NULL with the reason in err. */
struct audit_log *audit_log_open(const char *data_dir, char *err, size_t errlen);
/* Closes it. Accepts NULL. */
void audit_log_close(struct audit_log *a);

/* Appends event (an object; "ts" is added first, ISO 8601 UTC with milliseconds). Steals the
 * reference. Accepts a NULL log (the event is dropped). */
void audit_log_write(struct audit_log *a, json_t *event);

#endif
