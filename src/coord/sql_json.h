/* sql_json: SQLite result rows as JSON objects, for herd's JSON APIs over latency.db. */
#ifndef HERD_SQL_JSON_H
#define HERD_SQL_JSON_H

#include <jansson.h>
#include <sqlite3.h>

/* The current row of st as {column name: value}: integers, reals, text and null as such;
 * text in a column named in json_columns (NULL-terminated, may be NULL) is parsed as JSON
 * when it is valid JSON. A new reference. */
json_t *sql_json_row(sqlite3_stmt *st, const char *const *json_columns);

/* Steps st to the end, each row as sql_json_row makes it, and finalizes st. A new array, or
 * NULL when a step fails. */
json_t *sql_json_rows(sqlite3_stmt *st, const char *const *json_columns);

#endif
