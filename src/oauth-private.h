/*
 * oauth-private.h: what the parts of the oauth module share (oauth.c: the
 * presets and flows; oauth-reply.c: JSON and the endpoint replies;
 * oauth-store.c: the token file). Not part of any public contract.
 */
#ifndef POPFETCH_OAUTH_PRIVATE_H
#define POPFETCH_OAUTH_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "popfetch/err.h"

/*
 * Make jansson allocate through functions that wipe every block when it
 * is freed, so no token outlives its JSON object in freed heap memory.
 * Runs as a constructor where the compiler has them and is idempotent;
 * every entry point that touches jansson also calls it first.
 */
void oauth_json_init(void);

/*
 * Parse buf[0..len) (at most OAUTH_MAX_JSON bytes) as one JSON object,
 * duplicate keys refused. Returns the object, or NULL with a reason in
 * why[whysz] that quotes no input (it may hold tokens).
 */
json_t *oauth_json_object(const char *buf, size_t len, char *why, size_t whysz);

/*
 * Copy the string member key of o into a new string in *out. With
 * token_chars, only printable ASCII without spaces is allowed (tokens go
 * into SASL messages). Returns 1 (copied), 0 (absent or null), -1 (not a
 * string, empty, longer than max, or a character not allowed).
 */
int oauth_json_str(
    json_t *o, const char *key, size_t max, bool token_chars, char **out);

/*
 * The integer member key of o in *out (a JSON integer, or a string of
 * digits as some providers send), 0..max. Returns 1, 0 (absent or null),
 * -1 (wrong type or out of range).
 */
int oauth_json_int(json_t *o, const char *key, long long max, long long *out);

/*
 * Make sure the token file at path could be written: its directory exists
 * (created 0700 when missing), is ours and is closed to others. Returns 0,
 * or -1 like oauth_store_save().
 */
int oauth_store_prepare(const char *path, struct pf_err *err);

/* The account name for hints ("ACCOUNT" when none was given). */
const char *oauth_account_name(const char *account);

#endif
