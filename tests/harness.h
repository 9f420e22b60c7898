/* A small test harness (KVM selftests style): tests register themselves, CHECK records a failure
 * and goes on, SKIP leaves the test with a reason; main prints "N passed, N failed, N skipped". */
#ifndef VMSCOPE_HARNESS_H
#define VMSCOPE_HARNESS_H
#include <stdbool.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The harness's main calls this first, if a test file defines it (integration: KVM checks). */
extern void (*test_setup)(int argc, char **argv);

#define TEST(name)                                                                                 \
	static void name(void);                                                                    \
	__attribute__((constructor)) static void register_##name(void)                             \
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

/* Tests drive a known amount of work and wait for it to be done; they never assert what a
 * machine manages within a fixed time. A wait's bound is there for a hang only, and it is
 * scaled by VMSCOPE_TEST_SLOW (the hardware lane's TCG runs a guest far slower). */
extern double test_slow;
void test_nap(double seconds); /* sleeps `seconds`, unscaled */
double test_now(void);	       /* seconds on the monotonic clock */
/* Polls cond every 5 ms (times VMSCOPE_TEST_SLOW) until it holds (true) or bound_s * test_slow
 * seconds pass on the monotonic clock (false). */
#define WAIT_UNTIL(cond, bound_s)                                                                  \
	({                                                                                         \
		bool held_ = false;                                                                \
		double until_ = test_now() + (bound_s)*test_slow;                                  \
		for (;;) {                                                                         \
			if ((cond)) {                                                              \
				held_ = true;                                                      \
				break;                                                             \
			}                                                                          \
			if (test_now() >= until_)                                                  \
				break;                                                             \
			test_nap(0.005 * test_slow);                                               \
		}                                                                                  \
		held_;                                                                             \
	})
/* The bound for work a test asks of a guest: minutes, so that only a hang reaches it. */
#define HANG_BOUND_S 60.0

#endif
