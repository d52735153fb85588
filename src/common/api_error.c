#include "common/api_error.h"

#include <string.h>

json_t *api_error_ollama(const char *msg)
{
    return json_pack("{s:s}", "error", msg ? msg : "");
}

const char *api_error_openai_type(int status)
{
    switch (status) {
    case 400:
    case 413:
    case 422:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 429:
        return "rate_limit_error";
    default:
        return "api_error";
    }
}

json_t *api_error_openai(int status, const char *msg)
{
    return json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", msg ? msg : "", "type",
                     api_error_openai_type(status), "param", "code");
}

void api_error_for_path(const char *path, int status, const char *msg, json_t **json,
                        const char **content_type, bool *newline)
{
    if (path && strncmp(path, API_ERROR_OPENAI_PREFIX, strlen(API_ERROR_OPENAI_PREFIX)) == 0) {
        *json = api_error_openai(status, msg);
        *content_type = "application/json";
        *newline = true;
        return;
    }
    *json = api_error_ollama(msg);
    *content_type = "application/json; charset=utf-8";
    *newline = false;
}
