/* The test harness's registry and main. `BINARY [NAME-SUBSTRING...]` runs the matching tests;
 * "=NAME" matches one test exactly; `BINARY --list [...]` prints the names it would run. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TESTS 256

static struct {
	const char *name;
	test_fn fn;
} tests[MAX_TESTS];
static unsigned nr_tests;
static jmp_buf skip_jmp;
static char skip_reason[256];
static unsigned failures;

void (*test_setup)(int argc, char **argv);
double test_slow = 1;

double test_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void test_nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

void test_register(const char *name, test_fn fn)
{
	if (nr_tests < MAX_TESTS)
		tests[nr_tests++] = (typeof(tests[0])){name, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stdout, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	failures++;
}

void test_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
	va_end(ap);
	longjmp(skip_jmp, 1);
}

/* Arguments name tests to run (substrings, or "=NAME" exactly); "-NAME" leaves out the tests
 * NAME matches. */
static bool selected(const char *name, int argc, char **argv)
{
	bool any_include = false, included = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list"))
			continue;
		if (argv[i][0] == '=') {
			any_include = true;
			included |= !strcmp(name, argv[i] + 1);
			continue;
		}
		if (argv[i][0] == '-') {
			if (strstr(name, argv[i] + 1))
				return false;
			continue;
		}
		any_include = true;
		included |= strstr(name, argv[i]) != NULL;
	}
	return !any_include || included;
}

int main(int argc, char **argv)
{
	static unsigned passed, failed, skipped; /* static: survive longjmp */

	setvbuf(stdout, NULL, _IOLBF, 0);
	static bool trace;
	trace = getenv("VMSCOPE_TEST_TRACE") != NULL;
	const char *slow = getenv("VMSCOPE_TEST_SLOW");
	if (slow && atof(slow) >= 1)
		test_slow = atof(slow);
	for (int a = 1; a < argc; a++)
		if (!strcmp(argv[a], "--list")) {
			for (unsigned t = 0; t < nr_tests; t++)
				if (selected(tests[t].name, argc, argv))
					printf("%s\n", tests[t].name);
			return 0;
		}
	if (test_setup)
		test_setup(argc, argv);
	static unsigned i; /* static: survives the longjmp of a skip */
	for (i = 0; i < nr_tests; i++) {
		struct timespec a, b;
		if (!selected(tests[i].name, argc, argv))
			continue;
		unsigned before = failures;
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (setjmp(skip_jmp)) {
			printf("skip %s: %s\n", tests[i].name, skip_reason);
			skipped++;
			continue;
		}
		if (trace) /* the hardware lane's console: which test a stall is in */
			printf("run  %s\n", tests[i].name);
		tests[i].fn();
		clock_gettime(CLOCK_MONOTONIC, &b);
		double ms =
		    (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		if (failures == before) {
			printf("ok   %s (%.0f ms)\n", tests[i].name, ms);
			passed++;
		} else {
			printf("FAIL %s\n", tests[i].name);
			failed++;
		}
	}
	printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
