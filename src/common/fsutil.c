#include "common/fsutil.h"
#include "common/hbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int fsutil_mkdir_p(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

void fsutil_expand_home(char **path)
{
    if (!*path || (*path)[0] != '~' || ((*path)[1] != '/' && (*path)[1] != '\0'))
        return;
    const char *home = getenv("HOME");
    if (!home)
        return;
    size_t n = strlen(home) + strlen(*path) + 1;
    char *p = malloc(n);
    if (!p)
        return;
    snprintf(p, n, "%s%s", home, *path + 1);
    free(*path);
    *path = p;
}

int fsutil_read_file(const char *path, struct hbuf *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        rc = hbuf_append(out, chunk, n);
        if (rc)
            break;
    }
    if (!rc && ferror(f))
        rc = -EIO;
    fclose(f);
    return rc;
}
