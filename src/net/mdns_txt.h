/* mdns_txt: DNS-SD TXT record data (RFC 6763 §6): a run of length-prefixed "key=value"
 * strings. Pure functions, no I/O.
 *
 * Written here rather than taken from libmdnsd's sdtxt: its parser reads past an entry
 * without '=' and trusts lengths from the network. */
#ifndef HERD_MDNS_TXT_H
#define HERD_MDNS_TXT_H

#include <stdbool.h>
#include <stddef.h>

/* Encodes pairs ("key=value" strings, NULL-terminated) into out. Returns the length, or 0
 * when an entry is longer than 255 bytes or out is too small. No pairs give the one empty
 * string the RFC requires. */
size_t mdns_txt_build(const char *const *pairs, unsigned char *out, size_t outlen);

/* Finds key (case-insensitive) in rdata and copies its value into out (NUL-terminated,
 * truncated to outlen). A key present without "=" has the empty value. Returns true when
 * found. Malformed data (a length that runs past the end) ends the search. */
bool mdns_txt_get(const unsigned char *rdata, size_t len, const char *key, char *out,
                  size_t outlen);

#endif
