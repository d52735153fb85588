/* sql_json: SQLite rows as JSON (see sql_json.h). */
#include "coord/sql_json.h"

#include <stdbool.h>
#include <string.h>

static bool is_json_column(const char *name, const char *const *json_columns)
{
    for (const char *const *c = json_columns; c && *c; c++)
        if (strcmp(*c, name) == 0)
            return true;
    return false;
}

json_t *sql_json_row(sqlite3_stmt *st, const char *const *json_columns)
{
    json_t *o = json_object();
    for (int i = 0; i < sqlite3_column_count(st); i++) {
        const char *name = sqlite3_column_name(st, i);
        json_t *v = NULL;
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            v = json_integer(sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            v = json_real(sqlite3_column_double(st, i));
            break;
        case SQLITE_TEXT: {
            const char *t = (const char *)sqlite3_column_text(st, i);
            json_error_t je;
            if (is_json_column(name, json_columns))
                v = json_loads(t, 0, &je);
            if (!v)
                v = json_string(t);
            break;
        }
        default:
            v = json_null();
        }
        json_object_set_new(o, name, v);
    }
    return o;
}

json_t *sql_json_rows(sqlite3_stmt *st, const char *const *json_columns)
{
    json_t *rows = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(rows, sql_json_row(st, json_columns));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        json_decref(rows);
        return NULL;
    }
    return rows;
}
