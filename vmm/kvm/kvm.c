/* Thin KVM helpers (Documentation/virt/kvm/api.rst). */
#include "vmm/kvm/kvm.h"

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

const char *host_kind_name(enum host_kind h)
{
	static const char *const names[HOST_KIND_MAX] = {"unknown", "vt-x", "amd-v", "pvm", "none"};
	return (unsigned)h < HOST_KIND_MAX ? names[h] : "?";
}

const char *cpu_mode_name(enum cpu_mode m)
{
	static const char *const names[CPU_MODE_MAX] = {"auto", "hardware", "paravirt", "emulated",
							"translated"};
	return (unsigned)m < CPU_MODE_MAX ? names[m] : "?";
}

int cpu_mode_parse(const char *s, enum cpu_mode *m)
{
	for (int i = CPU_AUTO; i < CPU_MODE_MAX; i++)
		if (!strcmp(s, cpu_mode_name(i))) {
			*m = i;
			return 0;
		}
	return -EINVAL;
}

int kvm_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		close(fd);
		return v < 0 ? -ENOTTY : -ENOTSUP; /* not KVM at all, or a KVM we do not know */
	}
	return fd;
}

/* Permission denied: is this user in the device's group already (then the mode is the
 * problem), or not (then the group is)? */
/* Why this user may not open /dev/kvm, from the device's owner, group and mode: the advice that
 * fits it (join the group that may use it; or, when only its owner may, an administrator's udev
 * rule), never "join the root group". */
static const char *kvm_access_why(void)
{
	static __thread char buf[320];
	struct stat st;
	gid_t groups[256];
	int n = getgroups(256, groups);
	bool member = false;

	if (stat("/dev/kvm", &st) < 0)
		return "no permission to open /dev/kvm: run with sudo";
	for (int i = 0; i < n; i++)
		member |= groups[i] == st.st_gid;
	member |= getegid() == st.st_gid;
	struct group *g = getgrgid(st.st_gid);
	struct passwd *pw = getpwuid(st.st_uid);
	char gid[16], uid[16];
	snprintf(gid, sizeof(gid), "%u", (unsigned)st.st_gid);
	snprintf(uid, sizeof(uid), "%u", (unsigned)st.st_uid);
	const char *group = g ? g->gr_name : gid, *owner = pw ? pw->pw_name : uid;
	unsigned mode = (unsigned)(st.st_mode & 07777);
	bool group_rw = (st.st_mode & S_IRGRP) && (st.st_mode & S_IWGRP);
	if (!group_rw || st.st_gid == 0) {
		snprintf(
		    buf, sizeof(buf),
		    "no permission to open /dev/kvm: it is %s:%s mode %04o, so only %s may open "
		    "it; run with sudo, or ask an administrator for a kvm group and a udev rule "
		    "(KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\")",
		    owner, group, mode, owner);
	} else if (member) {
		snprintf(buf, sizeof(buf),
			 "no permission to open /dev/kvm: it is %s:%s mode %04o and you are in %s; "
			 "log in again if you joined it just now, or run with sudo",
			 owner, group, mode, group);
	} else {
		snprintf(
		    buf, sizeof(buf),
		    "no permission to open /dev/kvm: it is %s:%s mode %04o; add your user to the "
		    "%s group (sudo usermod -aG %s $USER, then log in again), or run with sudo",
		    owner, group, mode, group, group);
	}
	return buf;
}

const char *kvm_open_strerror(int err)
{
	switch (err) {
	case -ENOENT:
	case -ENODEV:
	case -ENXIO:
		return "/dev/kvm does not exist: this machine has no KVM; enable VT-x or AMD-V in "
		       "the firmware and load kvm_intel or kvm_amd (kvm_pvm on a PVM host)";
	case -EACCES:
	case -EPERM: return kvm_access_why();
	case -ENOTTY:
		return "/dev/kvm is not the KVM device (it answers no KVM ioctl): something else "
		       "is "
		       "mounted or linked there; remove it and load the kvm modules";
	case -ENOTSUP:
		return "/dev/kvm speaks an unexpected KVM API version: this kernel is not "
		       "supported";
	default: return "/dev/kvm could not be opened";
	}
}

/* One MSR through KVM_GET_MSRS/KVM_SET_MSRS (their argument ends in a flexible array). */
static int kvm_msr_io(int vcpu_fd, unsigned long req, uint32_t index, uint64_t *value)
{
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} m = {0};
	m.hdr.nmsrs = 1;
	m.hdr.entries[0].index = index;
	m.hdr.entries[0].data = *value;
	if (ioctl(vcpu_fd, req, &m) != 1)
		return -EIO;
	*value = m.hdr.entries[0].data;
	return 0;
}

int kvm_get_msr(int vcpu_fd, uint32_t index, uint64_t *value)
{
	*value = 0;
	return kvm_msr_io(vcpu_fd, KVM_GET_MSRS, index, value);
}

int kvm_set_msr(int vcpu_fd, uint32_t index, uint64_t value)
{
	return kvm_msr_io(vcpu_fd, KVM_SET_MSRS, index, &value);
}

static enum host_kind vendor_host(void)
{
	unsigned a, b, c, d;
	char vendor[13];

	if (!__get_cpuid(0, &a, &b, &c, &d))
		return HOST_UNKNOWN;
	memcpy(vendor, &b, 4);
	memcpy(vendor + 4, &d, 4);
	memcpy(vendor + 8, &c, 4);
	vendor[12] = 0;
	if (!strcmp(vendor, "GenuineIntel"))
		return HOST_VTX;
	if (!strcmp(vendor, "AuthenticAMD") || !strcmp(vendor, "HygonGenuine"))
		return HOST_AMDV;
	return HOST_UNKNOWN;
}

enum host_kind kvm_detect_host(int vcpu_fd)
{
	uint64_t sig;

	/* kvm_pvm answers its signature MSR with "PVM"; hardware KVM refuses the read. */
	if (access("/sys/module/kvm_pvm", F_OK) == 0 && !kvm_get_msr(vcpu_fd, PVM_MSR_SIG, &sig) &&
	    (sig & 0xffffff) == ('P' | 'V' << 8 | 'M' << 16))
		return HOST_PVM;
	return vendor_host();
}

enum host_kind kvm_host_kind(const char *path)
{
	int fd = kvm_open(path);
	if (fd < 0)
		return HOST_NONE;
	close(fd);
	return kvm_host_kind_running();
}

enum host_kind kvm_host_kind_running(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0 ? HOST_PVM : vendor_host();
}

uint64_t kvm_tsc_khz(int vcpu_fd, enum host_kind host)
{
	uint64_t khz = 0;
	if (host == HOST_PVM && !kvm_get_msr(vcpu_fd, PVM_MSR_TSC_KHZ, &khz) && khz)
		return khz;
	int r = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
	return r > 0 ? (uint64_t)r : 0;
}

int kvm_tsc_offset(int vcpu_fd, int64_t *out)
{
	struct kvm_device_attr a = {.group = KVM_VCPU_TSC_CTRL,
				    .attr = KVM_VCPU_TSC_OFFSET,
				    .addr = (uint64_t)(uintptr_t)out};
	return ioctl(vcpu_fd, KVM_GET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

int kvm_set_supported_cpuid(int kvm_fd, int vcpu_fd, bool kvm_leaves)
{
	const int max = 128;
	struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + max * sizeof(cpuid->entries[0]));
	int ret = 0;

	if (!cpuid)
		return -ENOMEM;
	cpuid->nent = max;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
		ret = -errno;
		goto out;
	}
	uint32_t n = 0;
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		uint32_t f = cpuid->entries[i].function;
		if (kvm_leaves || f < 0x40000000u || f > 0x400000ffu)
			cpuid->entries[n++] = cpuid->entries[i];
	}
	cpuid->nent = n;
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
		ret = -errno;
out:
	free(cpuid);
	return ret;
}

/* A flat 4 GiB ring-0 segment (SDM Vol. 3A 3.4.5): 64-bit code (type 11, L) or data (type 3). */
static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code)
{
	return (struct kvm_segment){.limit = 0xffffffff,
				    .selector = selector,
				    .type = type,
				    .present = 1,
				    .db = !code,
				    .s = 1,
				    .l = code,
				    .g = 1};
}

int kvm_setup_long_mode(int vcpu_fd, uint64_t cr3, uint64_t gdt, uint64_t idt, uint64_t tss,
			uint64_t rip, uint64_t rsp)
{
	struct kvm_sregs s;
	struct kvm_regs r = {.rip = rip, .rsp = rsp, .rflags = 0x2};
	struct kvm_segment code = flat_segment(0x08, 11, true), data = flat_segment(0x10, 3, false);

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.tr = (struct kvm_segment){
	    .base = tss, .limit = 0x67, .selector = 0x18, .type = 11, .present = 1};
	s.gdt.base = gdt;
	s.gdt.limit = 5 * 8 - 1;
	s.idt.base = idt;
	s.idt.limit = 256 * 16 - 1;
	s.cr0 = 0x80050033; /* PG, AM, WP, NE, ET, MP, PE */
	s.cr3 = cr3;
	s.cr4 = 0x20;	/* PAE */
	s.efer = 0x500; /* LMA, LME */
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &s) < 0 || ioctl(vcpu_fd, KVM_SET_REGS, &r) < 0)
		return -errno;
	return 0;
}

int kvm_ioeventfd(int vm_fd, uint64_t addr, uint32_t len, int fd, bool pio, bool assign)
{
	struct kvm_ioeventfd io = {
	    .addr = addr,
	    .len = len,
	    .fd = fd,
	    .flags =
		(pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	if (ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0)
		return -errno;
	return 0;
}
