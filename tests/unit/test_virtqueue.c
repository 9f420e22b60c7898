/* Split virtqueue handling on fake guest memory: well-formed traffic, notification suppression,
 * and every malformed case a driver can produce. Guard pages around the fake memory must stay
 * untouched (and ASan watches every access). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"
#include "vmm/virtio/ring.h"

#define MEM   0x10000
#define GUARD 4096
#define QSIZE 8
#define DESC  0x1000
#define AVAIL 0x2000
#define USED  0x3000
#define BUF   0x4000

static uint8_t *raw;
static struct guest_mem mem;
static struct vq vq;
static struct vq_chain chain;

static void setup(bool event_idx)
{
	free(raw);
	raw = malloc(MEM + 2 * GUARD);
	memset(raw, 0xa5, MEM + 2 * GUARD);
	mem = (struct guest_mem){raw + GUARD, MEM, 0};
	memset(mem.base, 0, MEM);
	memset(&vq, 0, sizeof(vq));
	vq.size = QSIZE;
	vq.desc_gpa = DESC;
	vq.avail_gpa = AVAIL;
	vq.used_gpa = USED;
	vq.event_idx = event_idx;
	vq.mem = &mem;
}

static bool guards_intact(void)
{
	for (unsigned i = 0; i < GUARD; i++)
		if (raw[i] != 0xa5 || raw[GUARD + MEM + i] != 0xa5)
			return false;
	return true;
}

static void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = mem.base + DESC + 16 * i;
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static uint16_t avail_idx;
static void publish(uint16_t head)
{
	memcpy(mem.base + AVAIL + 4 + 2 * (avail_idx % QSIZE), &head, 2);
	avail_idx++;
	memcpy(mem.base + AVAIL + 2, &avail_idx, 2);
}

static uint16_t rd16(uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, mem.base + gpa, 2);
	return v;
}
static uint32_t rd32(uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, mem.base + gpa, 4);
	return v;
}
static void wr16(uint64_t gpa, uint16_t v)
{
	memcpy(mem.base + gpa, &v, 2);
}

static bool inside(const struct vq_chain *c)
{
	for (unsigned i = 0; i < c->nr; i++)
		if (c->seg[i].ptr < mem.base || c->seg[i].ptr + c->seg[i].len > mem.base + MEM)
			return false;
	return true;
}

TEST(virtqueue_pops_a_chain_and_pushes_it_used)
{
	setup(false);
	avail_idx = 0;
	REQUIRE(vq_start(&vq) == 0);
	CHECK(vq_pop(&vq, &chain) == 0); /* nothing yet */
	desc(3, BUF, 12, VRING_DESC_F_NEXT, 5);
	desc(5, BUF + 0x100, 1500, VRING_DESC_F_WRITE, 0);
	publish(3);
	REQUIRE(vq_pop(&vq, &chain) == 1);
	CHECK(chain.head == 3 && chain.nr == 2 && chain.read_len == 12 && chain.write_len == 1500);
	CHECK(chain.seg[0].ptr == mem.base + BUF && !chain.seg[0].write && chain.seg[1].write);
	CHECK(inside(&chain));
	CHECK(vq_pop(&vq, &chain) == 0);
	vq_push(&vq, 3, 60);
	CHECK(rd16(USED + 2) == 1 && rd32(USED + 4) == 3 && rd32(USED + 8) == 60);
	CHECK(vq_should_signal(&vq));
	CHECK(!vq_should_signal(&vq)); /* nothing new since */
	wr16(AVAIL, VRING_AVAIL_F_NO_INTERRUPT);
	vq_push(&vq, 3, 1);
	CHECK(!vq_should_signal(&vq));
	CHECK(vq_error_total(&vq.err) == 0 && guards_intact());
}

TEST(virtqueue_event_idx_suppresses_both_directions)
{
	setup(true);
	avail_idx = 0;
	REQUIRE(vq_start(&vq) == 0);
	desc(0, BUF, 64, 0, 0);
	/* Driver side: used_event = 2 means "interrupt me once used idx passes 2". */
	wr16(AVAIL + 4 + 2 * QSIZE, 2);
	for (int i = 0; i < 2; i++) {
		publish(0);
		REQUIRE(vq_pop(&vq, &chain) == 1);
		vq_push(&vq, 0, 0);
		CHECK(!vq_should_signal(&vq)); /* used idx 1, 2: not past 2 yet */
	}
	publish(0);
	REQUIRE(vq_pop(&vq, &chain) == 1);
	vq_push(&vq, 0, 0);
	CHECK(vq_should_signal(&vq)); /* used idx 3 crossed used_event 2 */
	/* Device side: avail_event tells the driver when to kick next. */
	CHECK(!vq_enable_notify(&vq, true));
	CHECK(rd16(USED + 4 + 8 * QSIZE) == 3);
	publish(0);
	CHECK(vq_enable_notify(&vq, true)); /* work arrived: do not sleep */
	CHECK(vring_need_event(3, 4, 3) && !vring_need_event(5, 4, 3));
	CHECK(vq_error_total(&vq.err) == 0 && guards_intact());
}

TEST(virtqueue_no_event_idx_uses_the_no_notify_flag)
{
	setup(false);
	REQUIRE(vq_start(&vq) == 0);
	vq_enable_notify(&vq, false);
	CHECK(rd16(USED) == VRING_USED_F_NO_NOTIFY);
	vq_enable_notify(&vq, true);
	CHECK(rd16(USED) == 0);
}

/* One malformed chain: the named counter moves, the queue breaks, later pops refuse. */
static void expect_broken(uint64_t *counter, const char *what)
{
	uint64_t before = *counter;
	CHECKF(vq_pop(&vq, &chain) == -EIO, "%s: not refused", what);
	CHECKF(*counter == before + 1, "%s: counter %llu", what, (unsigned long long)*counter);
	CHECKF(vq.broken && vq_pop(&vq, &chain) == -EIO, "%s: queue not broken", what);
	CHECKF(vq_error_total(&vq.err) == 1, "%s: other counters moved", what);
	vq_push(&vq, 0, 0); /* ignored on a broken queue */
	CHECK(!vq_should_signal(&vq));
	CHECKF(guards_intact(), "%s: memory outside the guest was touched", what);
}

static const struct {
	const char *what;
	size_t counter;
} malformed[] = {
    {"loop", offsetof(struct vq_errors, loop)},
    {"self loop", offsetof(struct vq_errors, loop)},
    {"buffer outside memory", offsetof(struct vq_errors, bad_addr)},
    {"address wraps", offsetof(struct vq_errors, bad_addr)},
    {"huge length", offsetof(struct vq_errors, bad_addr)},
    {"head out of range", offsetof(struct vq_errors, bad_index)},
    {"next out of range", offsetof(struct vq_errors, bad_index)},
    {"avail idx jump", offsetof(struct vq_errors, avail_jump)},
    {"read after write", offsetof(struct vq_errors, bad_order)},
    {"indirect", offsetof(struct vq_errors, indirect)},
    {"chain too long in bytes", offsetof(struct vq_errors, len_overflow)},
};

static void build_malformed(unsigned i)
{
	switch (i) {
	case 0:
		desc(0, BUF, 8, VRING_DESC_F_NEXT, 1);
		desc(1, BUF, 8, VRING_DESC_F_NEXT, 0);
		publish(0);
		break;
	case 1:
		desc(2, BUF, 8, VRING_DESC_F_NEXT, 2);
		publish(2);
		break;
	case 2:
		desc(0, MEM - 4, 8, 0, 0);
		publish(0);
		break;
	case 3:
		desc(0, ~0ull - 7, 16, 0, 0);
		publish(0);
		break;
	case 4:
		desc(0, BUF, 0xffffffff, 0, 0);
		publish(0);
		break;
	case 5: publish(QSIZE); break;
	case 6:
		desc(0, BUF, 8, VRING_DESC_F_NEXT, 999);
		publish(0);
		break;
	case 7:
		avail_idx = QSIZE + 1;
		wr16(AVAIL + 2, avail_idx);
		break;
	case 8:
		desc(0, BUF, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
		desc(1, BUF, 8, 0, 0);
		publish(0);
		break;
	case 9:
		desc(0, BUF, 64, VRING_DESC_F_INDIRECT, 0);
		publish(0);
		break;
	case 10:
		desc(0, BUF, 40000, VRING_DESC_F_NEXT, 1);
		desc(1, BUF, 40000, 0, 0);
		publish(0);
		break;
	}
}

TEST(virtqueue_refuses_every_malformed_chain)
{
	for (unsigned i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		setup(i & 1);
		avail_idx = 0;
		REQUIRE(vq_start(&vq) == 0);
		build_malformed(i);
		expect_broken((uint64_t *)((uint8_t *)&vq.err + malformed[i].counter),
			      malformed[i].what);
	}
}

TEST(virtqueue_refuses_bad_ring_configuration)
{
	const struct {
		uint16_t size;
		uint64_t desc, avail, used;
	} bad[] = {
	    {0, DESC, AVAIL, USED},
	    {6, DESC, AVAIL, USED},
	    {VQ_MAX_SIZE * 2, DESC, AVAIL, USED},
	    {QSIZE, DESC + 8, AVAIL, USED},
	    {QSIZE, DESC, AVAIL + 1, USED},
	    {QSIZE, DESC, AVAIL, USED + 2},
	    {QSIZE, MEM - 16, AVAIL, USED},
	    {QSIZE, DESC, MEM - 4, USED},
	    {QSIZE, DESC, AVAIL, ~0ull - 3},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setup(false);
		vq.size = bad[i].size;
		vq.desc_gpa = bad[i].desc;
		vq.avail_gpa = bad[i].avail;
		vq.used_gpa = bad[i].used;
		CHECKF(vq_start(&vq) == -EINVAL && !vq.ready, "case %u accepted", i);
		CHECK(vq_pop(&vq, &chain) == -EIO);
		CHECK(guards_intact());
	}
}

TEST(virtqueue_reset_recovers_and_keeps_the_error_count)
{
	setup(false);
	avail_idx = 0;
	REQUIRE(vq_start(&vq) == 0);
	publish(QSIZE + 3);
	CHECK(vq_pop(&vq, &chain) == -EIO);
	vq_reset(&vq);
	vq.size = QSIZE;
	vq.desc_gpa = DESC;
	vq.avail_gpa = AVAIL;
	vq.used_gpa = USED;
	memset(mem.base + AVAIL, 0, 0x100);
	avail_idx = 0;
	REQUIRE(vq_start(&vq) == 0);
	desc(1, BUF, 8, 0, 0);
	publish(1);
	CHECK(vq_pop(&vq, &chain) == 1 && chain.head == 1);
	CHECK(vq.err.bad_index == 1);
	free(raw);
	raw = NULL;
}
