/* bench/boot: from process start (exec) to the guest's first instruction and to its banner.
 * Target: under 10 ms to the first instruction (Firecracker's anchor: 125 ms to /sbin/init). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/clock.h"
#include "vmm/vmm.h"

#define RUNS 25

/* The child: boot, wait for the banner, report absolute monotonic times on stdout. */
static int child(void)
{
	struct vmm_opts o = {0};
	struct vmm *vm;
	const char *why;
	uint64_t t0 = mono_ns();

	if (vmm_create(&vm, &o, &why)) {
		fprintf(stderr, "bench/boot: %s\n", why);
		return 1;
	}
	vmm_start(vm);
	for (int i = 0; i < 5000 && !vmm_ns_banner(vm); i++)
		usleep(200);
	printf("%llu %llu %llu\n", (unsigned long long)t0,
	       (unsigned long long)(t0 + vmm_ns_first_insn(vm)),
	       (unsigned long long)(t0 + vmm_ns_banner(vm)));
	vmm_destroy(vm);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	double create[RUNS], first[RUNS], banner[RUNS];

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child();
	for (int i = 0; i < RUNS; i++) {
		int p[2];
		char buf[128] = {0};
		unsigned long long t0, t1, t2;
		if (pipe(p))
			return 1;
		uint64_t start = mono_ns();
		pid_t pid = fork();
		if (pid == 0) {
			dup2(p[1], 1);
			execl("/proc/self/exe", argv[0], "--child", (char *)NULL);
			_exit(127);
		}
		close(p[1]);
		ssize_t n = read(p[0], buf, sizeof(buf) - 1);
		close(p[0]);
		int status;
		waitpid(pid, &status, 0);
		if (n <= 0 || sscanf(buf, "%llu %llu %llu", &t0, &t1, &t2) != 3 || t1 <= t0 ||
		    t2 <= t1) {
			fprintf(stderr, "bench/boot: run %d failed\n", i);
			return 1;
		}
		create[i] = (double)(t0 - start) / 1e6;
		first[i] = (double)(t1 - start) / 1e6;
		banner[i] = (double)(t2 - start) / 1e6;
	}
	qsort(create, RUNS, sizeof(double), cmp);
	qsort(first, RUNS, sizeof(double), cmp);
	qsort(banner, RUNS, sizeof(double), cmp);
	printf("bench/boot: %d runs, fork+exec to ...        min     p50     p90  (ms)\n", RUNS);
	printf("  main() reaches vmm_create          %7.2f %7.2f %7.2f\n", create[0],
	       create[RUNS / 2], create[RUNS * 9 / 10]);
	printf("  guest's first instruction          %7.2f %7.2f %7.2f   target < 10 ms: %s\n",
	       first[0], first[RUNS / 2], first[RUNS * 9 / 10],
	       first[RUNS / 2] < 10 ? "met" : "MISSED");
	printf("  guest's banner on serial           %7.2f %7.2f %7.2f\n", banner[0],
	       banner[RUNS / 2], banner[RUNS * 9 / 10]);
	return 0;
}
