/*
 * Replay a fuzz target's corpus without libFuzzer: link this main() with
 * one fuzz_*.c and pass corpus directories (or files). Each file is fed to
 * LLVMFuzzerTestOneInput once, exactly as the fuzzer would; a crash, a
 * sanitizer report or an abort() in the target fails the test, and so do
 * the fuzzer's own limits as run-all.sh sets them: an input that runs
 * longer than TIMEOUT seconds (SIGALRM) or takes the process past
 * RSS_LIMIT_MB (an input that makes memory explode). So the
 * corpora guard every build (gcc, ASan, no clang needed), not only the
 * fuzzing run.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

/* As tests/run-all.sh gives libFuzzer: -timeout=10 -rss_limit_mb=2048
 * (the timeout more generous: replays also run under sanitizers on a
 * loaded machine, and a hang is far longer than this). */
#define TIMEOUT 60
#define RSS_LIMIT_MB 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data = NULL;
	size_t len = 0, cap = 0, n;
	struct rusage ru;

	if (!f) {
		perror(path);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			unsigned char *p;
			cap = cap ? cap * 2 : 65536;
			p = realloc(data, cap);
			if (!p) {
				fclose(f);
				free(data);
				return -1;
			}
			data = p;
		}
		n = fread(data + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	printf("%s (%zu bytes)\n", path, len);
	fflush(stdout);
	alarm(TIMEOUT); /* the default action ends the process: a failure */
	LLVMFuzzerTestOneInput(data, len);
	alarm(0);
	free(data);
	if (getrusage(RUSAGE_SELF, &ru) == 0 &&
	    ru.ru_maxrss / 1024 > RSS_LIMIT_MB) {
		fprintf(stderr, "%s: peak memory %ld MB is over %d MB\n", path,
			ru.ru_maxrss / 1024, RSS_LIMIT_MB);
		exit(1);
	}
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	int i, files = 0, failed = 0;

	for (i = 1; i < argc; i++) {
		struct stat st;
		struct dirent *de;
		char **names = NULL;
		size_t n = 0, j;
		DIR *d;

		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed += replay_file(argv[i]) < 0;
			files++;
			continue;
		}
		d = opendir(argv[i]);
		if (!d) {
			perror(argv[i]);
			return 1;
		}
		while ((de = readdir(d))) {
			char **p;
			size_t sz;
			if (de->d_name[0] == '.')
				continue;
			p = realloc(names, (n + 1) * sizeof(*names));
			if (!p)
				return 1;
			names = p;
			sz = strlen(argv[i]) + strlen(de->d_name) + 2;
			names[n] = malloc(sz);
			if (!names[n])
				return 1;
			snprintf(names[n], sz, "%s/%s", argv[i], de->d_name);
			n++;
		}
		closedir(d);
		qsort(names, n, sizeof(*names), cmp);
		for (j = 0; j < n; j++) {
			failed += replay_file(names[j]) < 0;
			files++;
			free(names[j]);
		}
		free(names);
	}
	printf("%d inputs replayed, %d unreadable\n", files, failed);
	/* An empty corpus is a mistake (a wrong path), not a pass. */
	return files == 0 || failed ? 1 : 0;
}
