/*
 * config-private.h: what the parts of the config module share: the key
 * table, the groups of keys that exclude each other, and the resolution
 * that records which setting won for each key.
 */
#ifndef POPFETCH_CONFIG_PRIVATE_H
#define POPFETCH_CONFIG_PRIVATE_H

#include <stddef.h>

#include "popfetch/config.h"
#include "popfetch/err.h"

/* The kinds of value a key takes. */
enum key_type {
	KT_STR,	 /* any text */
	KT_PATH, /* text with ~/ expanded */
	KT_BOOL, /* on/off, yes/no, true/false, 1/0; flag alone = on */
	KT_SECS, /* seconds, 1 .. 86400 */
	KT_SIZE, /* bytes, with an optional k/M/G suffix */
	KT_SPECIAL,
	KT_REACH, /* host, proxy, tunnel, source_address: apply_reach() */
};

/*
 * Keys that set one thing in different ways form a group: at most one
 * member per block (or per command line), and the member set at the most
 * specific level replaces the whole group (docs/contract.md §2). A new
 * delivery target or secret source is one more key in its group.
 */
enum key_group {
	KG_NONE,
	KG_TLS,	   /* tls, starttls, no_tls */
	KG_FAMILY, /* ipv4, ipv6 */
	KG_SECRET, /* password, password_command */
	KG_TARGET, /* maildir, mbox, mda, stdout, lmtp, smtp */
	KG_FETCH,  /* only_new, all */
	KG_COUNT,
};

struct key_def {
	const char *name;
	enum key_type type;
	size_t off; /* offset in struct account for the plain types */
	enum key_group group;
};

extern const struct key_def config_keys[];
extern const size_t config_nkeys;

#define CONFIG_MAX_KEYS 64

/* The setting that won for each key of config_keys[] (NULL: none). */
struct config_winners {
	const struct config_setting *w[CONFIG_MAX_KEYS];
};

/* Index of key in config_keys[], or -1. */
int config_key_index(const char *key);

/*
 * config_resolve() that also returns the winning settings. Returns 0 or
 * -1 (out is then freed).
 */
int config_resolve_winners(const struct config *cfg, const char *name,
    const struct config_settings *cli, enum config_need need,
    struct account *out, struct config_winners *win, struct pf_err *err);

/*
 * config-hint.c: for a key popfetch does not know, the popfetch way of
 * saying what an mpop or fetchmail user meant, written into buf
 * ("(mpop): in popfetch, write 'tls starttls' (port 110)"). Returns buf,
 * or NULL when the key means nothing to us.
 */
const char *config_hint_key(
    const char *key, const char *value, char *buf, size_t sz);

/*
 * For a value popfetch refuses: a hint when it is an mpop or fetchmail
 * habit (mpop's "auth on", "timeout off"), else NULL.
 */
const char *config_hint_value(const char *key, const char *value);

/*
 * Check an MDA command for fetchmail's %T and %s (the recipient) as a
 * word of their own (maybe quoted), which popfetch does not expand; in
 * other places ("%s\n" in a printf format, date +%T) they are the user's.
 * Returns 0, or -1 with PF_ECONFIG and a message that says what to write
 * instead.
 */
int config_check_mda(const char *cmd, struct pf_err *err);

#endif
