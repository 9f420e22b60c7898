/* A small test harness (KVM selftests style): tests register themselves, CHECK records a failure
 * and goes on, SKIP leaves the test with a reason; main prints "N passed, N failed, N skipped". */
#ifndef VMSCOPE_HARNESS_H
#define VMSCOPE_HARNESS_H
#include <stdbool.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The harness's main calls this first, if a test file defines it (integration: KVM checks). */
extern void (*test_setup)(int argc, char **argv);

#define TEST(name)                                                                                 \
	static void name(void);                                                                    \
	__attribute__((constructor)) static void register_##name(void)                            \
	{                                                                                          \
		test_register(#name, name);                                                        \
	}                                                                                          \
	static void name(void)

#define CHECK(c) CHECKF(c, "%s", #c)
#define CHECKF(c, ...)                                                                             \
	do {                                                                                       \
		if (!(c))                                                                          \
			test_fail(__FILE__, __LINE__, __VA_ARGS__);                                \
	} while (0)
/* Stop this test at the first failure (for checks later steps depend on). */
#define REQUIRE(c)                                                                                 \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			test_fail(__FILE__, __LINE__, "%s", #c);                                   \
			return;                                                                    \
		}                                                                                  \
	} while (0)
#define SKIP(...) test_skip(__VA_ARGS__)

#endif
