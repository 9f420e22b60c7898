/* What an integration test needs from the machine, checked the same way everywhere. */
#ifndef VMSCOPE_TEST_NEED_H
#define VMSCOPE_TEST_NEED_H
#include <stdlib.h>
#include <unistd.h>

#include "probes/session.h"
#include "tests/harness.h"
#include "vmm/kvm/kvm.h"
#include "vmm/vmm.h"

/* The CPU the tests that boot a VM run it on: KVM's best (auto), or with
 * VMSCOPE_TEST_CPU=translated the translated CPU, which needs no /dev/kvm (tests/translated.sh
 * runs them so, where there is none). */
static inline enum cpu_mode test_cpu(void)
{
	const char *e = getenv("VMSCOPE_TEST_CPU");
	enum cpu_mode m;
	return e && !cpu_mode_parse(e, &m) ? m : CPU_AUTO;
}

/* /dev/kvm that opens and speaks the API we know (not for the translated CPU). */
static inline void need_kvm(void)
{
	if (test_cpu() == CPU_TRANSLATED)
		return;
	int fd = kvm_open("/dev/kvm");
	if (fd < 0)
		SKIP("%s", kvm_open_strerror(fd));
	close(fd);
}

/* A TAP link: root and /dev/net/tun (the SVM lane's initramfs has no tun module loaded). */
static inline void need_tap(void)
{
	if (geteuid() != 0)
		SKIP("the TAP link needs root");
	if (access("/dev/net/tun", R_OK | W_OK))
		SKIP("/dev/net/tun is missing");
}

/* session_open, or the test fails at the caller's line with session_open's reason: NULL. */
#define OPEN_SESSION(o) open_session_at((o), __FILE__, __LINE__)
static inline struct session *open_session_at(const struct session_opts *o, const char *file,
					      int line)
{
	struct session *s;
	const char *why;
	if (session_open(&s, o, &why)) {
		test_fail(file, line, "session_open: %s", why);
		return NULL;
	}
	return s;
}

/* The guest's control page as it is now (one copy, overwritten by the next call). */
static inline struct ctl_page *guest_ctl(struct vmm *vm)
{
	static struct ctl_page c;
	vmm_read_ctl(vm, &c);
	return &c;
}

/* The guest took the last command, then idles. */
static inline bool guest_acked(struct vmm *vm)
{
	struct ctl_page *c = guest_ctl(vm);
	return c->ack_seq == c->cmd_seq;
}

/* The frames the guest sent but its ARP replies: the peer's kernel asks for the guest's address
 * again whenever its neighbour entry has gone stale (seconds into a run, which a slow host such
 * as the hardware lane's TCG reaches within one test), and the answer is a frame the card moves
 * but neither a datagram for the peer's sink nor an IPv4 packet the capture counts. */
static inline uint64_t guest_sent_ipv4(const struct ctl_page *c)
{
	return c->net_tx_packets - c->arp_replies;
}

static inline void guest_settle(struct vmm *vm)
{
	vmm_set_workload(vm, WL_IDLE, 0, 0);
	CHECK(WAIT_UNTIL(guest_acked(vm), HANG_BOUND_S));
}

#endif
