/*
 * fuzz-netrc.c: the .netrc parser. The input, NUL-terminated, is parsed
 * for a few host/user pairs; a password found must be a word of the
 * input (inside the buffer, NUL-terminated, without white space).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popfetch/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse a fresh copy of data for host and user, and check the result. */
static void
find(const uint8_t *data, size_t size, const char *host, const char *user)
{
	char *text = malloc(size + 1);
	const char *pass;

	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	pass = secret_netrc_find(text, host, user);
	if (pass != NULL) {
		if (pass < text || pass > text + size ||
		    pass + strlen(pass) > text + size)
			abort();
		if (strpbrk(pass, " \t\r\n") != NULL || pass[0] == '\0') {
			fprintf(stderr, "fuzz-netrc: bad word '%s'\n", pass);
			abort();
		}
	}
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	find(data, size, "pop.example.com", "alice");
	find(data, size, "POP.EXAMPLE.COM", "bob");
	find(data, size, "default", "default");
	find(data, size, "", "");
	return 0;
}
