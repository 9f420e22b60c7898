/* What an integration test needs from the machine, checked the same way everywhere. */
#ifndef VMSCOPE_TEST_NEED_H
#define VMSCOPE_TEST_NEED_H
#include <unistd.h>

#include "tests/harness.h"
#include "vmm/kvm/kvm.h"

/* /dev/kvm that opens and speaks the API we know. */
static inline void need_kvm(void)
{
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

#endif
