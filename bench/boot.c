/* bench/boot: from process start (fork+exec) to the guest's first instruction and to its banner,
 * with the end of every step between (the boot's timeline, vmm_boot_marks). Targets: under 10 ms
 * to the first instruction (Firecracker's anchor: 125 ms to /sbin/init), 2 ms to the banner. */
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

/* The child: boot, wait for the banner, report absolute monotonic times on stdout: vmm_create's
 * start, then each mark of the boot's timeline (ns since that start) with its name. */
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
	struct vmm_mark m[VMM_MARKS];
	unsigned n = vmm_boot_marks(vm, m);
	printf("%llu %u\n", (unsigned long long)t0, n);
	for (unsigned i = 0; i < n; i++)
		printf("%llu %s\n", (unsigned long long)m[i].ns, m[i].name);
	vmm_destroy(vm);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One run: fork+exec of this binary as the child; at[0] when main() reached vmm_create, then
 * the child's marks, each in ms since the fork. */
static int one_run(char *argv0, double at[1 + VMM_MARKS], char names[VMM_MARKS][40], unsigned *nr)
{
	int p[2];
	char buf[2048] = {0};
	if (pipe(p))
		return -1;
	uint64_t start = mono_ns();
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execl("/proc/self/exe", argv0, "--child", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	size_t got = 0;
	for (ssize_t n;
	     got < sizeof(buf) - 1 && (n = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0;)
		got += (size_t)n;
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	unsigned long long t0, ns;
	int off;
	if (sscanf(buf, "%llu %u%n", &t0, nr, &off) != 2 || *nr > VMM_MARKS || t0 < start)
		return -1;
	at[0] = (double)(t0 - start) / 1e6;
	const char *q = buf + off;
	for (unsigned i = 0; i < *nr; i++) {
		int len;
		if (sscanf(q, " %llu %39[^\n]%n", &ns, names[i], &len) != 2 || !ns)
			return -1;
		at[1 + i] = at[0] + (double)ns / 1e6;
		q += len;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static double at[1 + VMM_MARKS][RUNS];
	char names[VMM_MARKS][40];
	unsigned nr = 0;

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child();
	for (int i = 0; i < RUNS; i++) {
		double one[1 + VMM_MARKS];
		unsigned n;
		if (one_run(argv[0], one, names, &n) || (i && n != nr)) {
			fprintf(stderr, "bench/boot: run %d failed\n", i);
			return 1;
		}
		nr = n;
		for (unsigned k = 0; k <= nr; k++)
			at[k][i] = one[k];
	}
	for (unsigned k = 0; k <= nr; k++)
		qsort(at[k], RUNS, sizeof(double), cmp);
	printf(
	    "bench/boot: %d runs, fork+exec to the end of each step   min     p50     p90  (ms)\n",
	    RUNS);
	printf("  %-40s %7.2f %7.2f %7.2f\n", "main() reaches vmm_create", at[0][0],
	       at[0][RUNS / 2], at[0][RUNS * 9 / 10]);
	for (unsigned k = 1; k <= nr; k++)
		printf("  %-40s %7.2f %7.2f %7.2f\n", names[k - 1], at[k][0], at[k][RUNS / 2],
		       at[k][RUNS * 9 / 10]);
	double first = at[nr - 1][RUNS / 2], banner = at[nr][RUNS / 2];
	printf("  first instruction p50 %.2f ms (target < 10 ms: %s); banner p50 %.2f ms (target "
	       "<= 2 ms: %s)\n",
	       first, first < 10 ? "met" : "MISSED", banner, banner <= 2 ? "met" : "MISSED");
	return 0;
}
