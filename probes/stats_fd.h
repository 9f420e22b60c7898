/* KVM binary statistics (KVM_GET_STATS_FD): descriptors parsed once, values read per tick. */
#ifndef VMSCOPE_STATS_FD_H
#define VMSCOPE_STATS_FD_H
#include <stddef.h>
#include <stdint.h>

#define KSTAT_NAME_MAX 48

struct kstat_desc {
	char name[KSTAT_NAME_MAX];
	uint32_t type; /* KVM_STATS_TYPE_* >> shift: cumulative, instant, peak, linear/log hist */
	uint32_t unit; /* KVM_STATS_UNIT_* >> shift: none, bytes, seconds, cycles, boolean */
	int16_t exponent;
	uint16_t size;	 /* number of u64 values (histograms have several) */
	uint32_t offset; /* byte offset in the data block */
};

struct kstats {
	int fd; /* -1 when parsed from a buffer */
	uint32_t nr;
	struct kstat_desc *desc;
	uint32_t data_offset;
	uint32_t data_size;
};

/* Parses header and descriptors from the first bytes of a stats file. 0 or -EINVAL/-ENOMEM:
 * every offset and size is checked against len. */
int kstats_parse(const uint8_t *buf, size_t len, struct kstats *ks);
/* KVM_GET_STATS_FD on a VM or vCPU fd, then parse. */
int kstats_open(int kvm_obj_fd, struct kstats *ks);
/* The same from a stats fd already open (one duplicated from another VMM): ks owns it, and
 * closes it on failure too. */
int kstats_from_fd(int fd, struct kstats *ks);
/* The first u64 of every descriptor into values[ks->nr]. */
int kstats_read(const struct kstats *ks, uint64_t *values);
/* Same, from a buffer holding the whole file. */
int kstats_values_from(const struct kstats *ks, const uint8_t *buf, size_t len, uint64_t *values);
int kstats_find(const struct kstats *ks, const char *name); /* index or -1 */
void kstats_close(struct kstats *ks);

#endif
