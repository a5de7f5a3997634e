/*
 * oauth-store.c: the per-account token file: checked on load, replaced
 * atomically and durably on save (oauth.h).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "popfetch/fileio.h"
#include "popfetch/oauth.h"
#include "popfetch/xmalloc.h"
#include "compat.h"
#include "oauth-private.h"

#define OAUTH_STORE_VERSION 1

/* Open the token file, refusing what others could read or plant. */
static int
oauth_store_open(const char *path, const char *account, struct pf_err *err)
{
	const char *acct = oauth_account_name(account);
	struct stat sb;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT)
		return pf_err_set(err, PF_ENOPERM,
		    "no OAuth tokens stored for account '%s': run popfetch "
		    "--authorize %s",
		    acct, acct);
	if (fd == -1 && errno == ELOOP)
		return pf_err_set(err, PF_ECONFIG,
		    "token file '%s' is a symbolic link: refusing it", path);
	if (fd == -1)
		return pf_err_sys(
		    err, PF_ECONFIG, "cannot open token file '%s'", path);
	if (fstat(fd, &sb) == -1) {
		pf_err_sys(
		    err, PF_ECONFIG, "cannot stat token file '%s'", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
	    (sb.st_mode & 077) != 0) {
		pf_err_set(err, PF_ECONFIG,
		    "token file '%s' is not a file of ours closed to others: "
		    "remove it and run popfetch --authorize %s",
		    path, acct);
		close(fd);
		return -1;
	}
	return fd;
}

/* The members of a token file; -1 when one has the wrong type. */
static int
oauth_store_members(json_t *o, struct oauth_tokens *t)
{
	const long long tmax = 253402300799LL; /* 9999-12-31 */
	long long v = 0;
	int bad = 0;

	if (oauth_json_int(o, "version", 1000, &v) != 1 ||
	    v != OAUTH_STORE_VERSION)
		return -1;
	bad |= oauth_json_str(o, "access_token", OAUTH_MAX_TOKEN, true,
		   &t->access_token) == -1;
	bad |= oauth_json_str(o, "refresh_token", OAUTH_MAX_TOKEN, true,
		   &t->refresh_token) == -1;
	bad |= oauth_json_str(o, "scope", 4096, false, &t->scope) == -1;
#define OAUTH_TIME(key, field)                                 \
	do {                                                   \
		v = 0;                                         \
		bad |= oauth_json_int(o, key, tmax, &v) == -1; \
		t->field = (time_t)v;                          \
	} while (0)
	OAUTH_TIME("expires_at", expires_at);
	OAUTH_TIME("refresh_expires_at", refresh_expires_at);
	OAUTH_TIME("obtained_at", obtained_at);
	OAUTH_TIME("last_warned", last_warned);
#undef OAUTH_TIME
	if (t->access_token == NULL && t->refresh_token == NULL)
		return -1;
	return bad ? -1 : 0;
}

int
oauth_store_load(const char *path, const char *account, struct oauth_tokens *t,
    struct pf_err *err)
{
	char *buf = NULL, why[80];
	size_t len = 0;
	json_t *o;
	int fd, rc;

	memset(t, 0, sizeof(*t));
	if ((fd = oauth_store_open(path, account, err)) == -1)
		return -1;
	rc = fileio_read_all(fd, OAUTH_MAX_JSON, &buf, &len);
	close(fd);
	if (rc == -1)
		return pf_err_sys(
		    err, PF_EDATA, "cannot read token file '%s'", path);
	o = oauth_json_object(buf, len, why, sizeof(why));
	explicit_bzero(buf, len);
	free(buf);
	if (o == NULL)
		return pf_err_set(err, PF_EDATA,
		    "token file '%s' is corrupt (%s): run popfetch "
		    "--authorize %s",
		    path, why, oauth_account_name(account));
	rc = oauth_store_members(o, t);
	json_decref(o);
	if (rc == -1) {
		oauth_tokens_clear(t);
		return pf_err_set(err, PF_EDATA,
		    "token file '%s' is corrupt (bad or missing fields): run "
		    "popfetch --authorize %s",
		    path, oauth_account_name(account));
	}
	return 0;
}

/* Make sure dir exists, is ours and is closed to group and others. */
static int
oauth_store_dir(const char *dir, struct pf_err *err)
{
	struct stat sb;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return pf_err_sys(err, PF_ECANTCREAT,
		    "cannot create token directory '%s'", dir);
	if (stat(dir, &sb) == -1)
		return pf_err_sys(
		    err, PF_ECANTCREAT, "cannot use token directory '%s'", dir);
	if (!S_ISDIR(sb.st_mode))
		return pf_err_set(err, PF_ECANTCREAT,
		    "token directory '%s' is not a directory", dir);
	if (sb.st_uid != geteuid() || (sb.st_mode & 077) != 0)
		return pf_err_set(err, PF_ECONFIG,
		    "token directory '%s' is not ours or is open to others: "
		    "chmod 700 it",
		    dir);
	return 0;
}

/* The JSON text of t, in a new buffer the caller wipes; NULL on error. */
static char *
oauth_store_text(const struct oauth_tokens *t, size_t *len)
{
	json_t *o = json_object();
	size_t n;
	char *buf = NULL;

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "version", json_integer(OAUTH_STORE_VERSION));
	if (t->access_token != NULL)
		json_object_set_new(
		    o, "access_token", json_string(t->access_token));
	if (t->refresh_token != NULL)
		json_object_set_new(
		    o, "refresh_token", json_string(t->refresh_token));
	if (t->scope != NULL)
		json_object_set_new(o, "scope", json_string(t->scope));
	json_object_set_new(o, "expires_at", json_integer(t->expires_at));
	json_object_set_new(
	    o, "refresh_expires_at", json_integer(t->refresh_expires_at));
	json_object_set_new(o, "obtained_at", json_integer(t->obtained_at));
	json_object_set_new(o, "last_warned", json_integer(t->last_warned));
	n = json_dumpb(o, NULL, 0, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (n > 0 && n <= OAUTH_MAX_JSON) {
		buf = xmalloc(n + 1);
		if (json_dumpb(o, buf, n, JSON_INDENT(1) | JSON_SORT_KEYS) !=
		    n) {
			explicit_bzero(buf, n);
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\n';
			*len = n + 1;
		}
	}
	json_decref(o);
	return buf;
}

/* write(2) all of buf; -1 with errno. */
static int
oauth_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write text to a fresh temp file, fsync it, rename it over path. */
static int
oauth_store_replace(const char *path, const char *tmp, const char *text,
    size_t len, struct pf_err *err)
{
	int fd, saved;

	/* a temp file left by a crash: ours (the caller holds the lock) */
	if (unlink(tmp) == -1 && errno != ENOENT)
		return pf_err_sys(err, PF_EIO, "cannot remove '%s'", tmp);
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		return pf_err_sys(err, PF_EIO, "cannot create '%s'", tmp);
	if (oauth_write_all(fd, text, len) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		return pf_err_sys(err, PF_EIO, "cannot write '%s'", tmp);
	}
	if (close(fd) == -1) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return pf_err_sys(err, PF_EIO, "cannot write '%s'", tmp);
	}
	if (rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return pf_err_sys(
		    err, PF_EIO, "cannot rename '%s' to '%s'", tmp, path);
	}
	return 0;
}

/* fsync a directory so a rename in it survives a crash. */
static int
oauth_sync_dir(const char *dir, struct pf_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1 || fsync(fd) == -1) {
		pf_err_sys(
		    err, PF_EIO, "cannot sync token directory '%s'", dir);
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
oauth_store_prepare(const char *path, struct pf_err *err)
{
	char *dir = fileio_dirname(path);
	int rc = oauth_store_dir(dir, err);

	free(dir);
	return rc;
}

int
oauth_store_save(
    const char *path, const struct oauth_tokens *t, struct pf_err *err)
{
	char *dir = fileio_dirname(path), *tmp = NULL, *text = NULL;
	size_t len = 0;
	int rc = -1;

	oauth_json_init();
	if (oauth_store_dir(dir, err) == -1)
		goto out;
	if ((text = oauth_store_text(t, &len)) == NULL) {
		pf_err_set(err, PF_ESOFTWARE, "cannot encode the tokens");
		goto out;
	}
	tmp = xasprintf("%s.tmp", path);
	if (oauth_store_replace(path, tmp, text, len, err) == -1)
		goto out;
	rc = oauth_sync_dir(dir, err);
out:
	if (text != NULL) {
		explicit_bzero(text, len);
		free(text);
	}
	free(tmp);
	free(dir);
	return rc;
}
