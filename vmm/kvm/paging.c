/* Boot page tables and GDT for the built-in guest (SDM Vol. 3A 4.5, 3.4.5). */
#include "vmm/kvm/paging.h"

#include <errno.h>
#include <string.h>

static int put64(uint8_t *mem, size_t mem_size, uint64_t gpa, uint64_t v)
{
	if (gpa > mem_size || mem_size - gpa < 8)
		return -EFAULT;
	memcpy(mem + gpa, &v, 8);
	return 0;
}

static int get64(const uint8_t *mem, size_t mem_size, uint64_t gpa, uint64_t *v)
{
	if (gpa > mem_size || mem_size - gpa < 8)
		return -EFAULT;
	memcpy(v, mem + gpa, 8);
	return 0;
}

long paging_build_identity(uint8_t *mem, size_t mem_size, uint64_t root, unsigned map_gib)
{
	const uint64_t flags = PTE_P | PTE_RW | PTE_US;
	uint64_t pdpt = root + 0x1000, pd = root + 0x2000;
	long bytes = (long)(2 + map_gib) * 0x1000;

	if (root & 0xfff || map_gib == 0 || map_gib > 512)
		return -EINVAL;
	if (root > mem_size || mem_size - root < (uint64_t)bytes)
		return -ENOSPC;
	memset(mem + root, 0, (size_t)bytes);
	put64(mem, mem_size, root, pdpt | flags);
	for (unsigned g = 0; g < map_gib; g++) {
		uint64_t dir = pd + g * 0x1000ull;
		put64(mem, mem_size, pdpt + 8 * g, dir | flags);
		for (unsigned i = 0; i < 512; i++)
			put64(mem, mem_size, dir + 8 * i,
			      ((uint64_t)g << 30 | (uint64_t)i << 21) | flags | PTE_PS);
	}
	return bytes;
}

int paging_translate(const uint8_t *mem, size_t mem_size, uint64_t root, uint64_t va, uint64_t *pa,
		     int *us_all)
{
	uint64_t table = root, e = 0;
	int us = 1;

	for (int level = 3; level >= 0; level--) {
		unsigned idx = (va >> (12 + 9 * level)) & 511;
		if (get64(mem, mem_size, (table & PTE_ADDR_MASK) + 8 * idx, &e) || !(e & PTE_P))
			return -EFAULT;
		us &= !!(e & PTE_US);
		if (level > 0 && level < 3 && (e & PTE_PS)) {
			uint64_t size = 1ull << (12 + 9 * level);
			*pa = (e & PTE_ADDR_MASK & ~(size - 1)) | (va & (size - 1));
			*us_all = us;
			return 0;
		}
		table = e;
	}
	*pa = (e & PTE_ADDR_MASK) | (va & 0xfff);
	*us_all = us;
	return 0;
}

long gdt_build(uint8_t *mem, size_t mem_size, uint64_t gdt, uint64_t tss)
{
	const uint64_t tss_limit = 0x67;
	uint64_t tss_lo = (tss_limit & 0xffff) | (tss & 0xffffff) << 16 | 0x89ull << 40 |
			  (tss >> 24 & 0xff) << 56;
	uint64_t entries[5] = {
	    0,
	    0x00af9a000000ffffull, /* code: L=1, P, DPL0, execute/read */
	    0x00cf92000000ffffull, /* data: P, DPL0, read/write, 4 GiB */
	    tss_lo,
	    tss >> 32,
	};
	for (unsigned i = 0; i < 5; i++)
		if (put64(mem, mem_size, gdt + 8 * i, entries[i]))
			return -ENOSPC;
	return (long)sizeof(entries);
}
