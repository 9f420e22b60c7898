/* KVM binary statistics (Documentation/virt/kvm/api.rst, 4.133 KVM_GET_STATS_FD). */
#include "stats_fd.h"

#include <errno.h>
#include <stdio.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define DESC_FIXED 16 /* flags, exponent, size, offset, bucket_size: then the name */

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

int kstats_parse(const uint8_t *buf, size_t len, struct kstats *ks)
{
	uint32_t name_size, num_desc, desc_offset, data_offset;
	uint64_t desc_bytes, data_end = 0;

	memset(ks, 0, sizeof(*ks));
	ks->fd = -1;
	if (len < 24)
		return -EINVAL;
	name_size = rd32(buf + 4);
	num_desc = rd32(buf + 8);
	desc_offset = rd32(buf + 16);
	data_offset = rd32(buf + 20);
	if (name_size == 0 || name_size > 4096 || num_desc > 4096)
		return -EINVAL;
	desc_bytes = (uint64_t)num_desc * (DESC_FIXED + name_size);
	if (desc_offset < 24 || desc_offset + desc_bytes > len)
		return -EINVAL;
	ks->desc = calloc(num_desc ? num_desc : 1, sizeof(*ks->desc));
	if (!ks->desc)
		return -ENOMEM;
	for (uint32_t i = 0; i < num_desc; i++) {
		const uint8_t *d = buf + desc_offset + (uint64_t)i * (DESC_FIXED + name_size);
		struct kstat_desc *k = &ks->desc[i];
		uint32_t flags = rd32(d);
		const char *name = (const char *)d + DESC_FIXED;

		if (!memchr(name, 0, name_size))
			goto bad;
		k->type = (flags & KVM_STATS_TYPE_MASK) >> KVM_STATS_TYPE_SHIFT;
		k->unit = (flags & KVM_STATS_UNIT_MASK) >> KVM_STATS_UNIT_SHIFT;
		k->exponent = (int16_t)rd16(d + 4);
		k->size = rd16(d + 6);
		k->offset = rd32(d + 8);
		if (k->size == 0 || k->offset % 8)
			goto bad;
		snprintf(k->name, sizeof(k->name), "%s", name);
		if ((uint64_t)k->offset + 8ull * k->size > data_end)
			data_end = (uint64_t)k->offset + 8ull * k->size;
	}
	if (data_end > UINT32_MAX)
		goto bad;
	ks->nr = num_desc;
	ks->data_offset = data_offset;
	ks->data_size = (uint32_t)data_end;
	return 0;
bad:
	free(ks->desc);
	ks->desc = NULL;
	return -EINVAL;
}

int kstats_open(int kvm_obj_fd, struct kstats *ks)
{
	int fd = ioctl(kvm_obj_fd, KVM_GET_STATS_FD, NULL);
	if (fd < 0)
		return -errno;
	return kstats_from_fd(fd, ks);
}

int kstats_from_fd(int fd, struct kstats *ks)
{
	uint8_t hdr[24], *buf;
	uint32_t data_offset;
	int r;

	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
		close(fd);
		return -EIO;
	}
	data_offset = rd32(hdr + 20);
	if (data_offset < 24 || data_offset > (1u << 24)) {
		close(fd);
		return -EINVAL;
	}
	buf = malloc(data_offset);
	if (!buf || pread(fd, buf, data_offset, 0) != (ssize_t)data_offset) {
		free(buf);
		close(fd);
		return -EIO;
	}
	r = kstats_parse(buf, data_offset, ks);
	free(buf);
	if (r) {
		close(fd);
		return r;
	}
	ks->fd = fd;
	return 0;
}

int kstats_values_from(const struct kstats *ks, const uint8_t *buf, size_t len, uint64_t *values)
{
	if ((uint64_t)ks->data_offset + ks->data_size > len)
		return -EINVAL;
	for (uint32_t i = 0; i < ks->nr; i++)
		memcpy(&values[i], buf + ks->data_offset + ks->desc[i].offset, 8);
	return 0;
}

int kstats_read(const struct kstats *ks, uint64_t *values)
{
	uint8_t *data = malloc(ks->data_size ? ks->data_size : 8);
	int r = 0;

	if (!data)
		return -ENOMEM;
	if (pread(ks->fd, data, ks->data_size, ks->data_offset) != (ssize_t)ks->data_size)
		r = -EIO;
	for (uint32_t i = 0; !r && i < ks->nr; i++)
		memcpy(&values[i], data + ks->desc[i].offset, 8);
	free(data);
	return r;
}

int kstats_find(const struct kstats *ks, const char *name)
{
	for (uint32_t i = 0; i < ks->nr; i++)
		if (!strcmp(ks->desc[i].name, name))
			return (int)i;
	return -1;
}

void kstats_close(struct kstats *ks)
{
	if (ks->fd >= 0)
		close(ks->fd);
	free(ks->desc);
	ks->desc = NULL;
	ks->fd = -1;
	ks->nr = 0;
}
