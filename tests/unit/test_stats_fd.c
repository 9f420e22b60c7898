/* KVM binary stats parsing, on bytes captured from a real kvm_pvm vCPU stats fd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/stats_fd.h"
#include "tests/harness.h"

/* tests/data/pvm-vcpu-stats.bin: header, 45 descriptors and data of a vCPU that ran the exits
 * workload (captured on a kvm_pvm host, kernel 6.18). */
static uint8_t *load_capture(size_t *len)
{
	FILE *f = fopen("tests/data/pvm-vcpu-stats.bin", "rb");
	uint8_t *buf = malloc(1 << 16);
	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

TEST(stats_fd_parses_captured_descriptors)
{
	size_t len;
	uint8_t *buf = load_capture(&len);
	struct kstats ks;
	uint64_t values[64];

	REQUIRE(buf);
	REQUIRE(kstats_parse(buf, len, &ks) == 0);
	CHECK(ks.nr == 45);
	int exits = kstats_find(&ks, "exits"), halt = kstats_find(&ks, "halt_exits");
	int hist = kstats_find(&ks, "halt_wait_hist"), blocking = kstats_find(&ks, "blocking");
	REQUIRE(exits >= 0 && halt >= 0 && hist >= 0 && blocking >= 0);
	CHECK(kstats_find(&ks, "mmio_exits") >= 0);
	CHECK(kstats_find(&ks, "insn_emulation") >= 0);
	CHECK(kstats_find(&ks, "no_such_stat") == -1);
	CHECK(ks.desc[exits].type == 0 && ks.desc[exits].size == 1);	   /* cumulative */
	CHECK(ks.desc[hist].type == 4 && ks.desc[hist].size == 32);	   /* log2 histogram */
	CHECK(ks.desc[hist].unit == 2);					   /* seconds */
	CHECK(ks.desc[blocking].type == 1 && ks.desc[blocking].unit == 4); /* instant boolean */
	REQUIRE(kstats_values_from(&ks, buf, len, values) == 0);
	CHECK(values[exits] == 12172);
	CHECK(values[halt] == 2011);
	CHECK(values[exits] >= values[halt]);
	kstats_close(&ks);
	free(buf);
}

TEST(stats_fd_rejects_malformed_headers_and_descriptors)
{
	size_t len;
	uint8_t *buf = load_capture(&len), *copy;
	struct kstats ks;
	uint32_t name_size, desc_offset;

	REQUIRE(buf);
	copy = malloc(len);
	REQUIRE(copy);
	memcpy(&name_size, buf + 4, 4);
	memcpy(&desc_offset, buf + 16, 4);

	CHECK(kstats_parse(buf, 23, &ks) == -EINVAL);		    /* shorter than the header */
	CHECK(kstats_parse(buf, desc_offset + 40, &ks) == -EINVAL); /* descriptors cut off */

	memcpy(copy, buf, len);
	put32(copy + 4, 0); /* name_size 0 */
	CHECK(kstats_parse(copy, len, &ks) == -EINVAL);
	memcpy(copy, buf, len);
	put32(copy + 8, 0x7fffffff); /* absurd descriptor count */
	CHECK(kstats_parse(copy, len, &ks) == -EINVAL);
	memcpy(copy, buf, len);
	put32(copy + 16, 4); /* descriptors overlapping the header */
	CHECK(kstats_parse(copy, len, &ks) == -EINVAL);
	memcpy(copy, buf, len);
	memset(copy + desc_offset + 16, 'A', name_size); /* a name without its NUL */
	CHECK(kstats_parse(copy, len, &ks) == -EINVAL);
	memcpy(copy, buf, len);
	put32(copy + desc_offset + 8, 3); /* a value offset not 8-aligned */
	CHECK(kstats_parse(copy, len, &ks) == -EINVAL);
	memcpy(copy, buf, len);
	copy[desc_offset + 6] = 0; /* size 0 */
	copy[desc_offset + 7] = 0;
	CHECK(kstats_parse(copy, len, &ks) == -EINVAL);

	/* Values past the end of what was read are refused, not read. */
	REQUIRE(kstats_parse(buf, len, &ks) == 0);
	uint64_t values[64];
	CHECK(kstats_values_from(&ks, buf, len - 8, values) == -EINVAL);
	kstats_close(&ks);
	free(copy);
	free(buf);
}
