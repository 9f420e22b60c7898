/* libFuzzer: the split virtqueue's device side. Guest memory holds whatever the fuzzer puts
 * there; the ring's size and addresses come from the input; pops and pushes follow. */
#include "tests/fuzz/fuzz.h"
#include "vmm/virtio/ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vq vq;
	static struct vq_chain chain;
	struct fuzz_in in = {data, size};
	struct guest_mem mem = fuzz_mem();
	memset(&vq, 0, sizeof(vq));
	vq.mem = &mem;
	vq.size = (uint16_t)fuzz_take(&in, 2);
	vq.desc_gpa = fuzz_take(&in, 3);
	vq.avail_gpa = fuzz_take(&in, 3);
	vq.used_gpa = fuzz_take(&in, 3);
	vq.event_idx = fuzz_take(&in, 1) & 1;
	fuzz_fill(&in, &mem, 8);
	if (vq_start(&vq))
		return 0;
	for (unsigned i = 0; i < 256 && in.n; i++) {
		uint8_t op = (uint8_t)fuzz_take(&in, 1);
		if (op & 1) {
			if (vq_pop(&vq, &chain) == 1)
				vq_push(&vq, chain.head, chain.write_len);
		} else if (op & 2) {
			vq_should_signal(&vq);
			vq_enable_notify(&vq, op & 4);
		} else {
			fuzz_fill(&in, &mem, 1);
		}
	}
	return 0;
}
