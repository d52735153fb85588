/* dashboard_assets: the dashboard's files, compiled into herd (no CDN, works offline). The
 * table is generated at build time from web/dashboard/ and Debian's libjs-chart.js. */
#ifndef HERD_DASHBOARD_ASSETS_H
#define HERD_DASHBOARD_ASSETS_H

#include <stddef.h>

struct dashboard_asset {
    const char *path; /* "/dashboard/static/app.js" */
    const char *type; /* "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
};

/* Ends with an entry whose path is NULL. */
extern const struct dashboard_asset dashboard_assets[];

#endif
