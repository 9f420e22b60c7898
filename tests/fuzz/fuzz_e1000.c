/* libFuzzer: the e1000's register file and descriptor rings. The input is guest memory (rings and
 * descriptors placed by the fuzzer) and a sequence of register accesses, transmits and received
 * frames. Nothing may touch outside guest memory, hang or crash. */
#include <stdlib.h>

#include "tests/devenv.h"
#include "tests/fuzz/fuzz.h"
#include "vmm/e1000/e1000.h"
#include "vmm/net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct net net;
	static struct irq_router irq;
	static struct e1000 *e;
	struct fuzz_in in = {data, size};
	struct guest_mem mem = fuzz_mem();
	struct nic_env env = dev_env(&mem, &irq, &net);
	env.intx_pin = 19;
	e = calloc(1, sizeof(*e));
	if (e1000_init(e, &env))
		abort();
	fuzz_fill(&in, &mem, 8);
	for (unsigned ops = 0; in.n && ops < 512; ops++) {
		uint8_t op = (uint8_t)fuzz_take(&in, 1);
		uint32_t off = (uint32_t)fuzz_take(&in, 3) % (E1000_BAR0_SIZE + 64);
		uint64_t v = fuzz_take(&in, 4);
		uint32_t len = 1u << (op >> 6); /* 1, 2, 4, 8 */
		switch (op & 7) {
		case 0:
		case 1: /* the registers the rings hang on, more often */
			off = (op & 1 ? E1000_TDBAL : E1000_RDBAL) + (off & 0x1c);
			/* fallthrough */
		case 2: e1000_mmio(e, off, &v, len, true); break;
		case 3: e1000_mmio(e, off, &v, len, false); break;
		case 4: e1000_tx(e); break;
		case 5: {
			uint8_t frame[2048];
			uint32_t n = fuzz_frame(&in, frame, sizeof(frame));
			e1000_rx(e, frame, n);
			break;
		}
		default: fuzz_fill(&in, &mem, 1);
		}
	}
	e1000_exit(e);
	free(e);
	irq_router_exit(&irq);
	return 0;
}
