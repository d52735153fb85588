/* coord_dashboard: the dashboard's JSON API, its settings and its files. */
#ifndef HERD_COORD_DASHBOARD_H
#define HERD_COORD_DASHBOARD_H

#include "coord/coord.h"

/* Registers the dashboard's routes on c's server. */
void coord_dashboard_routes(struct coord *c);

#endif
