/*
 * driver.c: a standalone main() for the fuzz targets, so the committed
 * corpus can be replayed by any compiler (the ctest fuzz-replay/<target>
 * tests) without libFuzzer. Each argument is a file or a directory whose
 * regular files are run through LLVMFuzzerTestOneInput() in name order.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read a whole file into a new buffer; NULL on failure. */
static uint8_t *
read_file(const char *path, size_t *len)
{
	uint8_t *buf = NULL, *nbuf;
	size_t cap = 0, n = 0, r;
	FILE *fp;

	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap == 0 ? 65536 : cap * 2;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(fp);
				return NULL;
			}
			buf = nbuf;
		}
		r = fread(buf + n, 1, cap - n, fp);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(fp)) {
		free(buf);
		fclose(fp);
		return NULL;
	}
	fclose(fp);
	*len = n;
	return buf;
}

/* Run one input file; a crash or abort() in the target fails the run. */
static int
run_file(const char *path)
{
	uint8_t *buf;
	size_t len = 0;

	if ((buf = read_file(path, &len)) == NULL) {
		fprintf(stderr, "fuzz-replay: cannot read '%s': %s\n", path,
		    strerror(errno));
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

/* Sort directory entries so replays are reproducible. */
static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of a directory, in name order. */
static int
run_dir(const char *dir, unsigned *count)
{
	struct dirent *de;
	struct stat sb;
	char **names = NULL, **nn, *path;
	size_t n = 0, cap = 0, i;
	int rc = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "fuzz-replay: cannot open '%s': %s\n", dir,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			if ((nn = realloc(names, cap * sizeof(*names))) ==
			    NULL) {
				rc = -1;
				break;
			}
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		size_t plen = strlen(dir) + strlen(names[i]) + 2;

		if (rc == 0 && (path = malloc(plen)) != NULL) {
			snprintf(path, plen, "%s/%s", dir, names[i]);
			if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
				if (run_file(path) == -1)
					rc = -1;
				else
					(*count)++;
			}
			free(path);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

/* Replay every input named; exit 1 when none ran or one was unreadable. */
int
main(int argc, char **argv)
{
	struct stat sb;
	unsigned count = 0;
	int i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s file-or-dir...\n", argv[0]);
		return 64;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) == -1) {
			fprintf(stderr, "fuzz-replay: '%s': %s\n", argv[i],
			    strerror(errno));
			rc = 1;
		} else if (S_ISDIR(sb.st_mode)) {
			if (run_dir(argv[i], &count) == -1)
				rc = 1;
		} else if (run_file(argv[i]) == -1)
			rc = 1;
		else
			count++;
	}
	if (count == 0) {
		fprintf(stderr, "fuzz-replay: no inputs found\n");
		rc = 1;
	}
	printf("fuzz-replay: %u inputs ran\n", count);
	return rc;
}
