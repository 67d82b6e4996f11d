/* The PAVE API emulator for unit tests (testemu.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "buf.h"
#include "testemu.h"
#include "testutil.h"
#include "util.h"
#include "banned.h"

#define MAX_ACCOUNTS 8

char test_emu_url[64];
static pid_t emu_pid = -1;
static char emu_dir[64];
static CURL *admin_curl;

/* The port the emulator wrote to `port_file`, once it has: 0 while it has
 * not, -1 when the emulator exited or 10 s passed. */
static int wait_for_port(const char *port_file)
{
	struct timespec ts = { 0, 20 * 1000000L };
	int i, port;

	for (i = 0; i < 500; i++) {
		FILE *f = fopen(port_file, "r");

		port = 0;
		if (f) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (port > 0)
			return port;
		if (waitpid(emu_pid, NULL, WNOHANG) == emu_pid) {
			emu_pid = -1;
			fprintf(stderr, "emulator exited during start-up\n");
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "emulator did not start within 10 s\n");
	return -1;
}

int test_emu_start(const char *const *accounts)
{
	const char *python = getenv("PYTHON");
	const char *script = getenv("PAVESYNC_EMULATOR");
	const char *argv[6 + 2 * MAX_ACCOUNTS + 1];
	char port_file[128];
	size_t a = 0, i;
	int port;

	if (!python || !*python)
		python = "python3";
	if (!script || !*script)
		script = TEST_DATA_DIR "/emulator/pave_emulator.py";
	if (ps_api_global_init() < 0)
		return -1;
	admin_curl = curl_easy_init();
	if (!admin_curl)
		return -1;
	if (test_mkdtemp(emu_dir, sizeof(emu_dir), "pavesync-test-emu") < 0)
		return -1;
	snprintf(port_file, sizeof(port_file), "%s/port", emu_dir);
	argv[a++] = python;
	argv[a++] = script;
	argv[a++] = "--port";
	argv[a++] = "0";
	argv[a++] = "--port-file";
	argv[a++] = port_file;
	for (i = 0; accounts[i] && i < MAX_ACCOUNTS; i++) {
		argv[a++] = "--account";
		argv[a++] = accounts[i];
	}
	argv[a] = NULL;

	emu_pid = fork();
	if (emu_pid < 0)
		return -1;
	if (emu_pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execvp(python, (char *const *)(void *)argv);
		_exit(127);
	}
	if ((port = wait_for_port(port_file)) < 0)
		return -1;
	snprintf(test_emu_url, sizeof(test_emu_url), "http://127.0.0.1:%d",
		 port);
	unlink(port_file);
	return 0;
}

int test_emu_stop(void)
{
	int status = 0;

	if (emu_pid > 0) {
		kill(emu_pid, SIGTERM);
		waitpid(emu_pid, &status, 0);
		emu_pid = -1;
	}
	if (emu_dir[0])
		test_rmtree(emu_dir);
	curl_easy_cleanup(admin_curl);
	admin_curl = NULL;
	ps_api_global_cleanup();
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
	return ps_buf_put(ctx, data, size * n) < 0 ? 0 : size * n;
}

json_t *test_emu_admin(const char *method, const char *path, const char *body)
{
	ps_buf url = PS_BUF_INIT, resp = PS_BUF_INIT;
	struct curl_slist *h =
		curl_slist_append(NULL, "Content-Type: application/json");
	long status = 0;
	json_t *v;

	ps_buf_printf(&url, "%s/_emulator/%s", test_emu_url, path);
	curl_easy_reset(admin_curl);
	curl_easy_setopt(admin_curl, CURLOPT_URL, url.ptr);
	curl_easy_setopt(admin_curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(admin_curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(admin_curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(admin_curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(admin_curl, CURLOPT_TIMEOUT_MS, 30000L);
	if (body)
		curl_easy_setopt(admin_curl, CURLOPT_POSTFIELDS, body);
	assert_int_equal(curl_easy_perform(admin_curl), CURLE_OK);
	curl_easy_getinfo(admin_curl, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 200);
	v = json_loadb(resp.ptr, resp.len, 0, NULL);
	curl_slist_free_all(h);
	ps_buf_release(&url);
	ps_buf_release(&resp);
	return v;
}

void test_emu_admin_do(const char *method, const char *path, const char *body)
{
	json_decref(test_emu_admin(method, path, body));
}
