/* api_error: the error bodies of the two APIs herd speaks, and the choice between them by path
 * (a server's error format: see httpd_set_error_format). Pure. */
#ifndef HERD_API_ERROR_H
#define HERD_API_ERROR_H

#include <jansson.h>
#include <stdbool.h>

/* Paths under this prefix are OpenAI's API; the others answer in Ollama's shape. */
#define API_ERROR_OPENAI_PREFIX "/v1/"

/* Ollama's shape: {"error": msg}. A new reference. */
json_t *api_error_ollama(const char *msg);

/* OpenAI's shape: {"error": {"message", "type", "param": null, "code": null}}, the type from
 * the status. A new reference. */
json_t *api_error_openai(int status, const char *msg);

/* The OpenAI error type of a status: 400/413/422 invalid_request_error, 401
 * authentication_error, 403 permission_error, 404 not_found_error, 429 rate_limit_error, else
 * api_error. */
const char *api_error_openai_type(int status);

/* The error body for a request to path, as the API there writes it: OpenAI's shape under
 * API_ERROR_OPENAI_PREFIX (application/json, with a newline), Ollama's elsewhere
 * (application/json; charset=utf-8). *json gets a new reference. */
void api_error_for_path(const char *path, int status, const char *msg, json_t **json,
                        const char **content_type, bool *newline);

#endif
