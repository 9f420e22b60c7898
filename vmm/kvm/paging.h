/* Builds the guest's boot page tables and GDT in guest memory; pure functions, unit tested. */
#ifndef VMSCOPE_PAGING_H
#define VMSCOPE_PAGING_H
#include <stddef.h>
#include <stdint.h>

#define PTE_P	      (1ull << 0)
#define PTE_RW	      (1ull << 1)
#define PTE_US	      (1ull << 2) /* kvm_pvm runs ring-0 code natively only if U/S=1 at every level */
#define PTE_PS	      (1ull << 7)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

/* Identity-map [0, map_gib GiB) with 2 MiB pages: PML4 at root, PDPT at root+4K, PDs after.
 * Returns the bytes of table written, or -errno. Only PML4 slot 0 is used. */
long paging_build_identity(uint8_t *mem, size_t mem_size, uint64_t root, unsigned map_gib);

/* Walks the tables like the MMU: 0 and *pa on success, -EFAULT if unmapped. *us_all is 1 only if
 * U/S is set at every level of the walk. */
int paging_translate(const uint8_t *mem, size_t mem_size, uint64_t root, uint64_t va, uint64_t *pa,
		     int *us_all);

/* Flat GDT: null, 64-bit code (0x08), data (0x10), 64-bit TSS (0x18). Returns bytes written. */
long gdt_build(uint8_t *mem, size_t mem_size, uint64_t gdt, uint64_t tss);

#endif
