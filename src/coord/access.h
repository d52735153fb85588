/* access: who may call what. API keys (client keys and the admin key), checked against a
 * request's "Authorization: Bearer <key>", and the rule that says what each path needs. Pure.
 *
 * Keys are kept as SHA-256 hashes: a keys file holds only hashes, and a key given in the
 * environment may be given as its hash too ("sha256:<64 hex digits>"). */
#ifndef HERD_ACCESS_H
#define HERD_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#define ACCESS_NAME_LEN 64

struct access_key {
    char name[ACCESS_NAME_LEN];
    char hash[65]; /* hex SHA-256 of the key */
    bool admin;
};

struct access {
    struct access_key *keys; /* owned */
    size_t n;
    size_t n_client; /* client keys (not the admin key) */
    bool have_admin;
};

/* What a request needs. */
enum access_need {
    ACCESS_OPEN,   /* anyone: "/", /api/version, the dashboard's page and files */
    ACCESS_NODE,   /* /heartbeat: the node secret, checked by its handler */
    ACCESS_CLIENT, /* inference and reads: a client key (or the admin key) when keys are set */
    ACCESS_ADMIN,  /* anything that changes the fleet: the admin key */
};

enum access_verdict {
    ACCESS_ALLOW,
    ACCESS_NO_KEY,         /* 401: no Authorization: Bearer */
    ACCESS_UNKNOWN_KEY,    /* 401: a key that is not ours */
    ACCESS_NOT_ADMIN,      /* 403: a client key where the admin key is needed */
    ACCESS_ADMIN_DISABLED, /* 403: client keys are set but no admin key: nobody may */
};

/* Frees the keys; the struct may be reused after. Accepts NULL. */
void access_free(struct access *a);

/* Adds one key from "NAME:KEY" or "NAME:sha256:HEX" (admin: "KEY" or "sha256:HEX", named
 * "admin"). Names are 1-63 of [A-Za-z0-9._-], unique. 0, or -1 with the reason in err. */
int access_add(struct access *a, const char *spec, bool admin, char *err, size_t errlen);

/* Adds every key of a comma-separated list of specs (FLEET_API_KEYS). */
int access_add_list(struct access *a, const char *list, char *err, size_t errlen);

/* Adds the keys of a keys file's text: one "NAME:sha256:HEX" per line, '#' comments and
 * blank lines ignored. A key in clear is refused (the file must hold only hashes); the error
 * names origin and the line. */
int access_add_file_text(struct access *a, const char *text, const char *origin, char *err,
                         size_t errlen);

/* What path needs for a request with this method (read: GET or HEAD). */
enum access_need access_need_for(const char *path, bool read);

/* The token of an "Authorization: Bearer <token>" header (scheme in any case, spaces
 * trimmed), copied into out; NULL when the header is absent, not Bearer, or too long. */
const char *access_bearer(const char *authorization, char *out, size_t outlen);

/* Whether a request that needs `need` and carries this Authorization header may go on.
 * *who gets the key that matched (borrowed from a), or NULL. */
enum access_verdict access_check(const struct access *a, enum access_need need,
                                 const char *authorization, const struct access_key **who);

/* The message a refused client reads. */
const char *access_verdict_text(enum access_verdict v);

#endif
