/* libFuzzer: a frame from the guest (or back to it) where the host reads it without a card in
 * between: the link's switch and its ping timing (net_port_send, net_backend_deliver: the echo
 * read of vmm/shared/netstack.c) and the capture's analysis of the link's traffic. The frame ends
 * at a guard page, in up to three pieces, so a read past it faults. */
#include "tests/fuzz/fuzz.h"
#include "probes/capture.h"
#include "vmm/control.h"
#include "vmm/net/net.h"
#include "vmm/shared/netstack.h"

static void on_rx(void *opaque, const uint8_t *frame, uint32_t len)
{
	struct net_echo e;
	(void)opaque;
	net_echo_peek(frame, len, &e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *cache;
	static struct net_backend *be;
	static struct capture_counters cnt;
	static struct capture_state *st;
	static int owner;
	enum { RAM = 4096 };
	if (!be) {
		if (loopback_create(&be) || !(st = capture_state_new()))
			__builtin_trap();
		struct net_port p = {.rx = on_rx, .opaque = &owner};
		net_guest_mac(0, p.mac);
		be->port[0] = p;
		net_backend_port_added(be, 0);
	}
	struct fuzz_in in = {data, size};
	unsigned cut1 = (unsigned)fuzz_take(&in, 1), cut2 = (unsigned)fuzz_take(&in, 1);
	bool back = fuzz_take(&in, 1) & 1;
	size_t len = in.n > NET_FRAME_MAX ? NET_FRAME_MAX : in.n;
	uint8_t *ram = guarded_ram(&cache, RAM);
	if (!ram)
		__builtin_trap();
	uint8_t *f = ram + RAM - len; /* its last byte before the guard page */
	memcpy(f, in.p, len);
	struct net_echo e;
	net_echo_peek(f, len, &e);
	capture_analyse(&cnt, st, net_guest_ip(0), f, (uint32_t)len, 1000);
	if (back) {
		net_backend_deliver(be, f, (uint32_t)len);
	} else {
		size_t a = len ? cut1 % (len + 1) : 0, b = a + (len - a ? cut2 % (len - a + 1) : 0);
		struct iovec iov[3] = {{f, a}, {f + a, b - a}, {f + b, len - b}};
		net_port_send(be, &owner, iov, 3);
	}
	be->ops->poll(be, false, 0); /* the loopback peer answers what it may */
	return 0;
}
