/* timeutil: clocks and time formats used across herd. */
#ifndef HERD_TIMEUTIL_H
#define HERD_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* Monotonic time in seconds (for intervals). */
double time_mono(void);

/* Wall-clock time in seconds since the epoch. */
double time_wall(void);

/* Formats an epoch time as RFC 3339 in UTC with nanoseconds, trailing zeros trimmed, ending in
 * 'Z' ("2024-09-12T21:17:29.110811Z"), as Ollama writes created_at. Returns out. */
char *time_rfc3339_utc(double epoch, char *out, size_t outlen);

/* Same instant in the local time zone with its offset ("2024-06-04T14:38:31.83753-07:00";
 * 'Z' when the offset is zero), as Ollama writes modified_at and expires_at. */
char *time_rfc3339_local(double epoch, char *out, size_t outlen);

/* Parses an RFC 3339 time ("2024-06-04T14:38:31.83753-07:00", "...Z") into *epoch. 0, or -1
 * when s is not one. */
int time_parse_rfc3339(const char *s, double *epoch);

/* A duration in seconds as a timeval for libevent (negative counts as zero). */
struct timeval time_tv(double seconds);

/* Days since the epoch of a UTC time: the unit of log rotation. */
int64_t time_utc_day(double epoch);

#endif
