/* Page-table and GDT builder: what kvm_pvm needs (U/S everywhere, slot 256 empty) and bounds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"
#include "vmm/control.h"
#include "vmm/kvm/paging.h"

static uint8_t *mem_alloc(void)
{
	return calloc(1, GUEST_MEM_SIZE);
}

TEST(paging_identity_maps_4gib_with_us_at_every_level)
{
	uint8_t *mem = mem_alloc();
	uint64_t pa;
	int us;
	const uint64_t probes[] = {0,
				   GPA_CTL,
				   GPA_IMAGE,
				   GUEST_MEM_SIZE - 1,
				   MMIO_EXIT_VMM,
				   MMIO_EXIT_EVENTFD + 4,
				   (4ull << 30) - 1};

	REQUIRE(mem);
	CHECK(paging_build_identity(mem, GUEST_MEM_SIZE, GPA_PML4, 4) == 6 * 4096);
	for (unsigned i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		CHECKF(paging_translate(mem, GUEST_MEM_SIZE, GPA_PML4, probes[i], &pa, &us) == 0,
		       "va %#lx unmapped", (unsigned long)probes[i]);
		CHECKF(pa == probes[i], "va %#lx -> pa %#lx", (unsigned long)probes[i],
		       (unsigned long)pa);
		CHECK(us == 1);
	}
	CHECK(paging_translate(mem, GUEST_MEM_SIZE, GPA_PML4, 4ull << 30, &pa, &us) == -EFAULT);
	free(mem);
}

TEST(paging_leaves_pml4_slot_256_and_all_but_slot_0_empty)
{
	uint8_t *mem = mem_alloc();
	uint64_t pa, e;
	int us;

	REQUIRE(mem);
	REQUIRE(paging_build_identity(mem, GUEST_MEM_SIZE, GPA_PML4, 4) > 0);
	for (unsigned slot = 1; slot < 512; slot++) {
		memcpy(&e, mem + GPA_PML4 + 8 * slot, 8);
		CHECKF(e == 0, "PML4 slot %u = %#lx", slot, (unsigned long)e);
	}
	CHECK(paging_translate(mem, GUEST_MEM_SIZE, GPA_PML4, 0xffff800000000000ull, &pa, &us) ==
	      -EFAULT);
	free(mem);
}

TEST(paging_refuses_bad_roots_and_small_memory)
{
	uint8_t *mem = mem_alloc();
	REQUIRE(mem);
	CHECK(paging_build_identity(mem, GUEST_MEM_SIZE, GPA_PML4 + 8, 4) == -EINVAL);
	CHECK(paging_build_identity(mem, GUEST_MEM_SIZE, GPA_PML4, 0) == -EINVAL);
	CHECK(paging_build_identity(mem, GPA_PML4 + 4096, GPA_PML4, 4) == -ENOSPC);
	CHECK(paging_build_identity(mem, GUEST_MEM_SIZE, GUEST_MEM_SIZE - 4096, 1) == -ENOSPC);
	free(mem);
}

TEST(paging_translate_stays_inside_memory)
{
	uint8_t mem[3 * 4096] = {0};
	uint64_t pa, e = (1ull << 40) | PTE_P | PTE_US; /* PML4 entry pointing far outside */
	int us;
	memcpy(mem, &e, 8);
	CHECK(paging_translate(mem, sizeof(mem), 0, 0, &pa, &us) == -EFAULT);
}

TEST(gdt_has_long_mode_code_flat_data_and_tss)
{
	uint8_t mem[0x2000] = {0};
	uint64_t code, data, tss_lo;

	CHECK(gdt_build(mem, sizeof(mem), 0x1000, 0x800) == 40);
	memcpy(&code, mem + 0x1008, 8);
	memcpy(&data, mem + 0x1010, 8);
	memcpy(&tss_lo, mem + 0x1018, 8);
	CHECK(code >> 53 & 1);		  /* L */
	CHECK(!(code >> 54 & 1));	  /* D must be 0 with L */
	CHECK((code >> 47 & 1) == 1);	  /* P */
	CHECK((data >> 41 & 1) == 1);	  /* writable */
	CHECK((tss_lo >> 40 & 0xf) == 9); /* available 64-bit TSS */
	CHECK((tss_lo >> 16 & 0xffffff) == 0x800);
	CHECK(gdt_build(mem, sizeof(mem), 0x1ff0, 0x800) == -ENOSPC);
}
