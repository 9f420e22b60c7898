/* What an integration test needs from the machine, checked the same way everywhere. */
#ifndef VMSCOPE_TEST_NEED_H
#define VMSCOPE_TEST_NEED_H
#include <unistd.h>

#include "tests/harness.h"

/* A TAP link: root and /dev/net/tun (the SVM lane's initramfs has no tun module loaded). */
static inline void need_tap(void)
{
	if (geteuid() != 0)
		SKIP("the TAP link needs root");
	if (access("/dev/net/tun", R_OK | W_OK))
		SKIP("/dev/net/tun is missing");
}

#endif
