/* fsutil: small file-system helpers. */
#ifndef HERD_FSUTIL_H
#define HERD_FSUTIL_H

/* Creates a directory and its missing parents (mode 0755). 0 or a negative errno. */
int fsutil_mkdir_p(const char *path);

#endif
