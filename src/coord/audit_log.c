#include "coord/audit_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"

#define AUDIT_LINE_MAX 8192

struct audit_log {
    char path[4096];
    int fd;
    dev_t dev;
    ino_t ino;
};

static int reopen(struct audit_log *a)
{
    int fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        a->dev = st.st_dev;
        a->ino = st.st_ino;
    }
    if (a->fd >= 0)
        close(a->fd);
    a->fd = fd;
    return 0;
}

struct audit_log *audit_log_open(const char *data_dir, char *err, size_t errlen)
{
    struct audit_log *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->fd = -1;
    char dir[3072];
    if (snprintf(dir, sizeof dir, "%s/logs", data_dir) >= (int)sizeof dir) {
        snprintf(err, errlen, "data directory path too long");
        free(a);
        return NULL;
    }
    (void)mkdir(dir, 0700);
    snprintf(a->path, sizeof a->path, "%s/audit.jsonl", dir);
    int rc = reopen(a);
    if (rc) {
        snprintf(err, errlen, "cannot open the audit log %s: %s", a->path, strerror(-rc));
        free(a);
        return NULL;
    }
    return a;
}

void audit_log_close(struct audit_log *a)
{
    if (!a)
        return;
    if (a->fd >= 0)
        close(a->fd);
    free(a);
}

void audit_log_write(struct audit_log *a, json_t *event)
{
    if (!a || !event) {
        json_decref(event);
        return;
    }
    double now = time_wall();
    time_t secs = (time_t)now;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)((now - (double)secs) * 1000) % 1000);
    json_t *line = json_pack("{s:s}", "ts", ts);
    json_object_update(line, event);
    json_decref(event);
    char *text = json_dumps(line, JSON_COMPACT);
    if (text && strlen(text) + 1 > AUDIT_LINE_MAX) {
        /* A huge request body: keep the event, without its detail. */
        free(text);
        json_object_set_new(line, "detail", json_string("(too long to record)"));
        text = json_dumps(line, JSON_COMPACT);
    }
    json_decref(line);
    if (!text)
        return;
    size_t len = strlen(text);
    if (len + 1 > AUDIT_LINE_MAX) {
        LOG_WARN("audit event too long (%zu bytes) to record", len);
        free(text);
        return;
    }
    /* Moved away by a rotation: start a new file where it was. */
    struct stat st;
    if (stat(a->path, &st) != 0 || st.st_ino != a->ino || st.st_dev != a->dev)
        (void)reopen(a);
    char buf[AUDIT_LINE_MAX];
    memcpy(buf, text, len);
    buf[len] = '\n';
    free(text);
    if (write(a->fd, buf, len + 1) != (ssize_t)(len + 1))
        LOG_ERROR("cannot write the audit log %s: %s", a->path, strerror(errno));
}
