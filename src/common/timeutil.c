#include "common/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

double time_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double time_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes ".ddddddddd" with trailing zeros removed, or nothing for a whole second. */
static void format_fraction(double epoch, time_t whole, char *out, size_t outlen)
{
    long ns = (long)llround((epoch - (double)whole) * 1e9);
    if (ns >= 1000000000L)
        ns = 999999999L;
    if (ns <= 0) {
        out[0] = '\0';
        return;
    }
    char digits[16];
    snprintf(digits, sizeof digits, "%09ld", ns);
    size_t n = strlen(digits);
    while (n > 0 && digits[n - 1] == '0')
        digits[--n] = '\0';
    snprintf(out, outlen, ".%s", digits);
}

char *time_rfc3339_utc(double epoch, char *out, size_t outlen)
{
    time_t whole = (time_t)floor(epoch);
    struct tm tm;
    gmtime_r(&whole, &tm);
    char base[32], frac[16];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    format_fraction(epoch, whole, frac, sizeof frac);
    snprintf(out, outlen, "%s%sZ", base, frac);
    return out;
}

char *time_rfc3339_local(double epoch, char *out, size_t outlen)
{
    time_t whole = (time_t)floor(epoch);
    struct tm tm;
    localtime_r(&whole, &tm);
    char base[32], frac[16], zone[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    format_fraction(epoch, whole, frac, sizeof frac);
    long off = tm.tm_gmtoff;
    if (off == 0) {
        snprintf(zone, sizeof zone, "Z");
    } else {
        char sign = off < 0 ? '-' : '+';
        if (off < 0)
            off = -off;
        snprintf(zone, sizeof zone, "%c%02d:%02d", sign, (int)(off / 3600 % 100),
                 (int)(off % 3600 / 60));
    }
    snprintf(out, outlen, "%s%s%s", base, frac, zone);
    return out;
}

int time_parse_rfc3339(const char *s, double *epoch)
{
    int y, mo, d, h, mi, sec, used = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
        mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + used;
    double frac = 0;
    if (*p == '.') {
        double scale = 0.1;
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 || om > 59)
            return -1;
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 1 + n;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    *epoch = (double)timegm(&tm) - (double)off + frac;
    return 0;
}

struct timeval time_tv(double seconds)
{
    struct timeval tv = {0, 0};
    if (seconds > 0) {
        tv.tv_sec = (time_t)seconds;
        tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    }
    return tv;
}

int64_t time_utc_day(double epoch)
{
    return (int64_t)floor(epoch / 86400.0);
}
