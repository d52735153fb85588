/* chip_table: memory bandwidth by chip name. */
#include "node/chip_table.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct chip_bw {
    const char *name;
    double gbps;
};

/* Apple silicon: unified memory, the whole model runs at this bandwidth. */
static const struct chip_bw apple[] = {
    {"m1", 68},      {"m1 pro", 200},   {"m1 max", 400},   {"m1 ultra", 800}, {"m2", 100},
    {"m2 pro", 200}, {"m2 max", 400},   {"m2 ultra", 800}, {"m3", 100},       {"m3 pro", 150},
    {"m3 max", 400}, {"m3 ultra", 819}, {"m4", 120},       {"m4 pro", 273},   {"m4 max", 546},
};

/* GPUs, by a substring of their marketing name; longer names first where one contains
 * another ("rtx 4070 ti" before "rtx 4070"). */
static const struct chip_bw gpus[] = {
    {"h200", 4800},        {"h100", 3350},     {"a100", 2039},       {"l40", 864},
    {"rtx 6000 ada", 960}, {"rtx a6000", 768}, {"rtx 5090", 1792},   {"rtx 5080", 960},
    {"rtx 4090", 1008},    {"rtx 4080", 716},  {"rtx 4070 ti", 504}, {"rtx 4070", 504},
    {"rtx 4060 ti", 288},  {"rtx 3090", 936},  {"rtx 3080", 760},    {"rtx 3070", 448},
    {"rtx 3060", 360},     {"rtx 2080", 616},  {"rtx 2070", 448},
};

/* Lower case, runs of blanks as one space, no blanks at either end. */
static void normalise(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    bool space = false;
    for (const char *p = in; *p && n + 1 < outlen; p++) {
        if (isspace((unsigned char)*p)) {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < outlen)
            out[n++] = ' ';
        space = false;
        out[n++] = (char)tolower((unsigned char)*p);
    }
    out[n] = '\0';
}

double chip_bandwidth_gbps(const char *chip)
{
    if (!chip || !*chip)
        return 0;
    char s[256];
    normalise(chip, s, sizeof s);
    for (size_t i = 0; i < sizeof gpus / sizeof *gpus; i++)
        if (strstr(s, gpus[i].name))
            return gpus[i].gbps;
    const char *name = strncmp(s, "apple ", 6) == 0 ? s + 6 : s;
    for (size_t i = 0; i < sizeof apple / sizeof *apple; i++)
        if (strcmp(name, apple[i].name) == 0)
            return apple[i].gbps;
    return 0;
}
