/* fsutil: small file-system helpers. */
#ifndef HERD_FSUTIL_H
#define HERD_FSUTIL_H

/* Creates a directory and its missing parents (mode 0755). 0 or a negative errno. */
int fsutil_mkdir_p(const char *path);

/* Replaces a leading "~" or "~/" of *path with $HOME; *path is a malloc'ed string that may be
 * replaced (the old one is freed). Unchanged when HOME is unset or on ENOMEM. */
void fsutil_expand_home(char **path);

/* Appends the whole file at path to out (whose bound applies: -EMSGSIZE when larger). 0 or a
 * negative errno (-ENOENT when it does not exist). */
struct hbuf;
int fsutil_read_file(const char *path, struct hbuf *out);

#endif
