/*
 * hostshim.c: an LD_PRELOAD shim over getaddrinfo() for the reach tests.
 *
 * Environment:
 *   PF_HOSTS      "NAME=ADDR[,ADDR...] NAME=..." (space-separated): a
 *                 lookup of NAME (case-insensitive) answers with these
 *                 numeric addresses, in this order, as a private hosts
 *                 file would; any other name goes to the real resolver.
 *                 ADDR "!noname", "!nodata" or "!again": the lookup fails
 *                 with EAI_NONAME (NXDOMAIN), EAI_NODATA or EAI_AGAIN (a
 *                 resolver that cannot be reached)
 *   PF_HOSTS_LOG  append every name looked up, one per line
 *
 * Preloaded into a proxy (danted, tinyproxy) it gives a name that only the
 * proxy can resolve; preloaded into popfetch it records which names
 * popfetch resolved itself (socks5h:// must resolve none but the proxy's).
 * Numeric lookups are logged too. Not async-signal-safe.
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/socket.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res);

typedef int gai_fn(
    const char *, const char *, const struct addrinfo *, struct addrinfo **);

/* Append "name\n" to $PF_HOSTS_LOG. */
static void
hostshim_log(const char *node)
{
	const char *path = getenv("PF_HOSTS_LOG");
	int fd;

	if (path == NULL || node == NULL)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1)
		return;
	(void)!write(fd, node, strlen(node));
	(void)!write(fd, "\n", 1);
	close(fd);
}

/* The address list of node in $PF_HOSTS copied into buf, or NULL. */
static const char *
hostshim_find(const char *node, char *buf, size_t bufsz)
{
	const char *hosts = getenv("PF_HOSTS"), *p, *eq, *end;
	size_t nlen = strlen(node);

	for (p = hosts; p != NULL && *p != '\0'; p = end) {
		while (*p == ' ')
			p++;
		end = p + strcspn(p, " ");
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL && (size_t)(eq - p) == nlen &&
		    strncasecmp(p, node, nlen) == 0 &&
		    (size_t)(end - eq) < bufsz) {
			memcpy(buf, eq + 1, (size_t)(end - eq - 1));
			buf[end - eq - 1] = '\0';
			return buf;
		}
	}
	return NULL;
}

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
    struct addrinfo **res)
{
	static gai_fn *real;
	struct addrinfo h, *first = NULL, **tail = &first, *one;
	char buf[1024], *addr, *save = NULL;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	hostshim_log(node);
	if (node == NULL || hostshim_find(node, buf, sizeof(buf)) == NULL)
		return real(node, service, hints, res);
	if (strcmp(buf, "!noname") == 0)
		return EAI_NONAME;
	if (strcmp(buf, "!nodata") == 0)
		return EAI_NODATA;
	if (strcmp(buf, "!again") == 0)
		return EAI_AGAIN;
	if (hints != NULL)
		h = *hints;
	else
		memset(&h, 0, sizeof(h));
	h.ai_flags = (h.ai_flags & ~AI_CANONNAME) | AI_NUMERICHOST;
	for (addr = strtok_r(buf, ",", &save); addr != NULL;
	     addr = strtok_r(NULL, ",", &save)) {
		if (real(addr, service, &h, &one) != 0)
			continue; /* another family than asked for */
		*tail = one;
		while (*tail != NULL)
			tail = &(*tail)->ai_next;
	}
	if (first == NULL)
		return EAI_NONAME;
	*res = first;
	return 0;
}
