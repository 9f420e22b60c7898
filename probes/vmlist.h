/* The KVM VMs on this host, as /proc shows them: a process holding an "anon_inode:kvm-vm" fd is
 * a VMM, its "anon_inode:kvm-vcpu:N" fds are its vCPUs and "anon_inode:kvm-vcpu-stats:N" the
 * binary stats fds it holds. What `vmscope attach` lists. */
#ifndef VMSCOPE_PROBES_VMLIST_H
#define VMSCOPE_PROBES_VMLIST_H
#include <stddef.h>

#define VMLIST_MAX 64

struct vm_info {
	int pid;
	char comm[16];	 /* /proc/PID/comm */
	const char *vmm; /* "QEMU", "Firecracker", ... by comm; NULL: not one we know */
	char guest[64];	 /* the guest's name where the command line gives one, else "" */
	unsigned vms, vcpus, stats_fds;
};

/* Every VMM this user may look into, in PID order, at most max; *unreadable counts the
 * processes whose fds it may not read (another user's: run with sudo). 0, or -errno. */
int vmlist_scan(struct vm_info *out, unsigned max, unsigned *nr, unsigned *unreadable);
/* One process: 1 and *vm when it holds a KVM VM, 0 when not (or it is gone), -1 when its fds
 * are not this user's to read. */
int vmlist_one(int pid, struct vm_info *vm);
/* Each KVM fd the process holds: fn(ctx, fd, what), what being "kvm-vm", "kvm-vcpu:N",
 * "kvm-vcpu-stats:N", ... (the anon inode's name). 0, or -errno (/proc/PID/fd unreadable). */
int vmlist_kvm_fds(int pid, void (*fn)(void *ctx, int fd, const char *what), void *ctx);
/* A VMM's product name by its command name (comm), or NULL. */
const char *vmlist_vmm_name(const char *comm);
/* The guest's name from a command line (args NUL-separated, len bytes, as /proc/PID/cmdline):
 * QEMU's -name (NAME, or guest=NAME among its options), Firecracker's --id, crosvm's and Cloud
 * Hypervisor's none. "" where there is none. */
void vmlist_guest_name(const char *args, size_t len, char *out, size_t n);

#endif
