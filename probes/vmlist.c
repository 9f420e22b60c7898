/* The KVM VMs on this host, from /proc (vmlist.h). */
#define _GNU_SOURCE
#include "probes/vmlist.h"

#include <ctype.h>
#include <stdbool.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *vmlist_vmm_name(const char *comm)
{
	static const struct {
		const char *prefix, *name;
	} known[] = {
	    {"qemu-system-", "QEMU"},
	    {"qemu-kvm", "QEMU"},
	    {"firecracker", "Firecracker"},
	    {"cloud-hyperviso", "Cloud Hypervisor"},
	    {"crosvm", "crosvm"},
	    {"vmscope", "vmscope"},
	    {"lkvm", "kvmtool"},
	};
	for (unsigned i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strncmp(comm, known[i].prefix, strlen(known[i].prefix)))
			return known[i].name;
	return NULL;
}

/* QEMU's -name value: "NAME[,opt=...]" or "guest=NAME[,...]" (qemu-options.hx). */
static void qemu_name(const char *v, char *out, size_t n)
{
	const char *g = strstr(v, "guest=");
	if (g && (g == v || g[-1] == ','))
		v = g + 6;
	size_t len = strcspn(v, ",");
	snprintf(out, n, "%.*s", (int)len, v);
}

void vmlist_guest_name(const char *args, size_t len, char *out, size_t n)
{
	const char *end = args + len;
	out[0] = 0;
	for (const char *a = args; a < end; a += strnlen(a, (size_t)(end - a)) + 1) {
		const char *next = a + strnlen(a, (size_t)(end - a)) + 1;
		bool has_next = next < end;
		if ((!strcmp(a, "-name") || !strcmp(a, "--name")) && has_next)
			qemu_name(next, out, n);
		else if (!strncmp(a, "-name=", 6))
			qemu_name(a + 6, out, n);
		else if (!strcmp(a, "--id") && has_next)
			snprintf(out, n, "%s", next);
	}
	for (char *c = out; *c; c++) /* a name is shown in a table: no control characters */
		if (iscntrl((unsigned char)*c))
			*c = '?';
}

static int read_file(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = 0;
	return (int)r;
}

int vmlist_kvm_fds(int pid, void (*fn)(void *ctx, int fd, const char *what), void *ctx)
{
	char path[300], link[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end || fd < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, e->d_name);
		ssize_t r = readlink(path, link, sizeof(link) - 1);
		if (r <= 11)
			continue;
		link[r] = 0;
		if (!strncmp(link, "anon_inode:kvm-", 15))
			fn(ctx, (int)fd, link + 11);
	}
	closedir(d);
	return 0;
}

static void count_fd(void *ctx, int fd, const char *what)
{
	struct vm_info *vm = ctx;
	if (!strcmp(what, "kvm-vm"))
		vm->vms++;
	else if (!strncmp(what, "kvm-vcpu-stats:", 15))
		vm->stats_fds++;
	else if (!strncmp(what, "kvm-vcpu:", 9))
		vm->vcpus++;
}

int vmlist_one(int pid, struct vm_info *vm)
{
	char path[64];
	memset(vm, 0, sizeof(*vm));
	int r = vmlist_kvm_fds(pid, count_fd, vm);
	if (r)
		return r == -EACCES || r == -EPERM ? -1 : 0;
	if (!vm->vms)
		return 0;
	vm->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (read_file(path, vm->comm, sizeof(vm->comm)) > 0)
		vm->comm[strcspn(vm->comm, "\n")] = 0;
	vm->vmm = vmlist_vmm_name(vm->comm);
	char args[8192];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	int len = read_file(path, args, sizeof(args));
	if (len > 0)
		vmlist_guest_name(args, (size_t)len, vm->guest, sizeof(vm->guest));
	return 1;
}

static int by_pid(const void *a, const void *b)
{
	return ((const struct vm_info *)a)->pid - ((const struct vm_info *)b)->pid;
}

int vmlist_scan(struct vm_info *out, unsigned max, unsigned *nr, unsigned *unreadable)
{
	DIR *d = opendir("/proc");
	*nr = *unreadable = 0;
	if (!d)
		return -errno;
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || *nr >= max)
			continue;
		int r = vmlist_one((int)pid, &out[*nr]);
		if (r < 0)
			(*unreadable)++;
		else if (r > 0)
			(*nr)++;
	}
	closedir(d);
	qsort(out, *nr, sizeof(out[0]), by_pid);
	return 0;
}
