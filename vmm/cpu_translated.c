/* The translated CPU: Unicorn 2 (QEMU's TCG as a library) runs the built-in guest by dynamic
 * binary translation, on any host, /dev/kvm or not. The guest's memory is the VMM's own mapping
 * (uc_mem_map_ptr), so the cards' DMA, the control page and the rings are the same bytes; every
 * address above it up to 4 GiB is one MMIO region that ends in the VMM's bus, as KVM's unbacked
 * guest-physical addresses do.
 *
 * What traps, and where it goes: IN/OUT and MMIO are the seam's CX_IO exits, handed to vcpu.c's
 * one dispatch from inside the hook (an IN needs its value before the instruction ends), except
 * writes bound to an ioeventfd, which signal it as KVM does (the device's thread wakes, the
 * VMM's dispatch never sees them); a RAM-backed BAR is RAM mapped into the MMIO window, so its
 * accesses never trap, as with a KVM memory slot; HLT
 * ends the translated run and becomes CX_HLT; VMCALL is an invalid instruction to TCG, which
 * this backend answers as KVM answers an unknown hypercall (-KVM_ENOSYS); CPUID is counted and
 * then executed by TCG. Interrupts: none. Unicorn has no injection API and delivers exceptions
 * to hooks, not through the guest's IDT, so the guest runs polled (IRQ_NONE), as it does in
 * kvm_pvm's emulated mode; a guest exception stops it with the vector named.
 *
 * Figures: blocks translated (the first run of each block address), blocks run and the
 * instructions in them, from a block hook and the translation cache's instruction counts. */
#define _GNU_SOURCE
#include "vmm/vmm_impl.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dlfcn.h>
#include <unicorn/unicorn.h>
#include <x86intrin.h>

#include "vmm/clock.h"
#include "vmm/counters.h"
#include "vmm/kvm/boot.h"
#include "vmm/kvm/paging.h"

#define MMIO_FLOOR   GUEST_MEM_SIZE
#define MMIO_TOP     (4ull << 30)
#define KVM_ENOSYS   1000 /* include/uapi/linux/kvm_para.h */
#define TB_SLOTS     8192 /* block addresses seen: a power of two, far above the guest's blocks */
#define MSR_EFER     0xc0000080u
#define EFER_LME_LMA 0x500ull

/* Unicorn is opened when the translated CPU is first asked for, not linked: its 19 MB library
 * costs every start of the process ~6 ms of loading and relocation (measured), KVM's boots
 * included. The calls below go through this table. */
static struct {
	uc_err (*open)(uc_arch, uc_mode, uc_engine **);
	uc_err (*close)(uc_engine *);
	uc_err (*ctl)(uc_engine *, uc_control_type, ...);
	uc_err (*emu_start)(uc_engine *, uint64_t, uint64_t, uint64_t, size_t);
	uc_err (*emu_stop)(uc_engine *);
	uc_err (*hook_add)(uc_engine *, uc_hook *, int, void *, void *, uint64_t, uint64_t, ...);
	uc_err (*mem_map_ptr)(uc_engine *, uint64_t, size_t, uint32_t, void *);
	uc_err (*mem_unmap)(uc_engine *, uint64_t, size_t);
	uc_err (*mmio_map)(uc_engine *, uint64_t, size_t, uc_cb_mmio_read_t, void *,
			   uc_cb_mmio_write_t, void *);
	uc_err (*reg_read)(uc_engine *, int, void *);
	uc_err (*reg_write)(uc_engine *, int, const void *);
	const char *(*strerror)(uc_err);
} U;
static const char *load_why;

#define uc_open(...)	    U.open(__VA_ARGS__)
#define uc_close(...)	    U.close(__VA_ARGS__)
#define uc_ctl(...)	    U.ctl(__VA_ARGS__)
#define uc_emu_start(...)   U.emu_start(__VA_ARGS__)
#define uc_emu_stop(...)    U.emu_stop(__VA_ARGS__)
#define uc_hook_add(...)    U.hook_add(__VA_ARGS__)
#define uc_mem_map_ptr(...) U.mem_map_ptr(__VA_ARGS__)
#define uc_mem_unmap(...)   U.mem_unmap(__VA_ARGS__)
#define uc_mmio_map(...)    U.mmio_map(__VA_ARGS__)
#define uc_reg_read(...)    U.reg_read(__VA_ARGS__)
#define uc_reg_write(...)   U.reg_write(__VA_ARGS__)
#define uc_strerror(...)    U.strerror(__VA_ARGS__)

static void load_unicorn(void)
{
	void *h = dlopen("libunicorn.so.2", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		load_why =
		    "the translated CPU needs Unicorn 2's library, libunicorn.so.2, which is "
		    "not installed (Debian: libunicorn2)";
		return;
	}
	const struct {
		void **fn;
		const char *name;
	} syms[] = {
	    {(void **)&U.open, "uc_open"},
	    {(void **)&U.close, "uc_close"},
	    {(void **)&U.ctl, "uc_ctl"},
	    {(void **)&U.emu_start, "uc_emu_start"},
	    {(void **)&U.emu_stop, "uc_emu_stop"},
	    {(void **)&U.hook_add, "uc_hook_add"},
	    {(void **)&U.mem_map_ptr, "uc_mem_map_ptr"},
	    {(void **)&U.mem_unmap, "uc_mem_unmap"},
	    {(void **)&U.mmio_map, "uc_mmio_map"},
	    {(void **)&U.reg_read, "uc_reg_read"},
	    {(void **)&U.reg_write, "uc_reg_write"},
	    {(void **)&U.strerror, "uc_strerror"},
	};
	for (unsigned i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
		if (!(*syms[i].fn = dlsym(h, syms[i].name))) {
			load_why =
			    "libunicorn.so.2 lacks Unicorn 2's API: the translated CPU needs "
			    "Unicorn 2.0 or later";
			U.open = NULL;
			return;
		}
}

#define IOEVENTFDS 16
/* The MMIO window: fixed pieces below and above the PCI window, and the PCI window (where BARs
 * live, the only place a RAM slot may go) in chunks of 1 MiB, so that mapping a slot remaps one
 * chunk: Unicorn's unmap costs ~10 ms a GiB (measured), a whole window ~40 ms. */
#define CHUNK	    (1ull << 20)
#define WIN_LO	    PCI_MMIO_BASE
#define WIN_HI	    (PCI_MMIO_BASE + PCI_MMIO_SIZE)
#define CHUNKS	    (PCI_MMIO_SIZE / CHUNK)
#define MMIO_PIECES (2 + CHUNKS + 2 * ACCEL_RAM_SLOTS)

struct tb_slot {
	uint64_t pc;
	uint32_t icount;
};

struct ioevfd {
	enum io_space space;
	uint64_t addr;
	uint32_t len;
	int fd; /* -1: free */
};

struct ram_slot {
	uint64_t gpa, size; /* where the slot should be; gpa 0: unused */
	void *ptr;
	uint64_t mapped; /* where it is mapped now (0: nowhere) */
};

/* A piece of the MMIO window between RAM slots: Unicorn hands its callbacks the offset into the
 * piece, so each carries its own base. */
struct mmio_piece {
	struct tcg_cpu *t;
	uint64_t base, size; /* size 0: unused */
};

struct tcg_cpu {
	uc_engine *uc;
	struct vmm *vm;
	bool kick;	/* interrupt() asked for the run to end (atomic) */
	bool hook_stop; /* a hook asked for the run to end: the VMM has work between runs */
	bool stopped;	/* on_block ended the run before a block (that block did not run) */
	bool hypercall; /* the run ended on a VMCALL this backend already answered */
	char why[160];	/* a hook saw the guest fail */
	uint64_t why_rip;
	/* Bound and mapped from the vCPU thread (device config writes, hot-plug work) or before
	 * it runs: no lock. RAM slots take effect between runs (remap). */
	struct ioevfd evfd[IOEVENTFDS];
	struct ram_slot ram[ACCEL_RAM_SLOTS];
	struct mmio_piece piece[MMIO_PIECES];
	bool remap, laid;
	struct tb_slot tb[TB_SLOTS];
};

static struct tcg_cpu *tcg(struct vmm *vm)
{
	return vm->cpu_state;
}

static uint64_t reg(uc_engine *uc, int id)
{
	uint64_t v = 0;
	uc_reg_read(uc, id, &v);
	return v;
}

/* After a hook served an exit: end the run if the VMM has work it does between runs. The
 * run ends at the next block's start (on_block), where the guest's state is whole. */
static void after_exit(struct tcg_cpu *t)
{
	struct vmm *vm = t->vm;
	if (LOAD(vm->stop) || LOAD(vm->hp_work) || LOAD(vm->paused))
		t->hook_stop = true;
}

/* A write bound to an ioeventfd: signalled, not dispatched (true). */
static bool ioeventfd_hit(struct tcg_cpu *t, enum io_space space, uint64_t addr, unsigned size)
{
	for (unsigned i = 0; i < IOEVENTFDS; i++) {
		const struct ioevfd *e = &t->evfd[i];
		if (e->fd >= 0 && e->space == space && e->addr == addr && e->len == size) {
			uint64_t one = 1;
			if (write(e->fd, &one, sizeof(one)) < 0) {
				/* saturated: a wake is pending anyway */
			}
			return true;
		}
	}
	return false;
}

static void serve(struct tcg_cpu *t, unsigned reason, enum io_space space, uint64_t addr,
		  uint8_t *data, unsigned size, bool write)
{
	if (write && ioeventfd_hit(t, space, addr, size))
		return;
	struct cpu_exit x = {.kind = CX_IO,
			     .reason = reason,
			     .space = space,
			     .addr = addr,
			     .data = data,
			     .size = size > 8 ? 8 : size,
			     .count = 1,
			     .write = write};
	vcpu_dispatch_exit(t->vm, &x);
	after_exit(t);
}

static uint32_t on_in(uc_engine *uc, uint32_t port, int size, void *opaque)
{
	uint8_t data[8] = {0};
	uint32_t v = 0;
	serve(opaque, KVM_EXIT_IO, IO_PIO, port, data, (unsigned)size, false);
	memcpy(&v, data, size > 4 ? 4 : (size_t)size);
	return v;
}

static void on_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *opaque)
{
	uint8_t data[8] = {0};
	memcpy(data, &value, size > 4 ? 4 : (size_t)size);
	serve(opaque, KVM_EXIT_IO, IO_PIO, port, data, (unsigned)size, true);
}

static uint64_t on_mmio_read(uc_engine *uc, uint64_t off, unsigned size, void *opaque)
{
	const struct mmio_piece *p = opaque;
	uint8_t data[8] = {0};
	uint64_t v = 0;
	serve(p->t, KVM_EXIT_MMIO, IO_MMIO, p->base + off, data, size, false);
	memcpy(&v, data, size > 8 ? 8 : size);
	return v;
}

static void on_mmio_write(uc_engine *uc, uint64_t off, unsigned size, uint64_t value, void *opaque)
{
	const struct mmio_piece *p = opaque;
	uint8_t data[8];
	memcpy(data, &value, 8);
	serve(p->t, KVM_EXIT_MMIO, IO_MMIO, p->base + off, data, size, true);
}

/* Counted, then TCG runs it (its CPUID is QEMU's model's, not the host's). */
static int on_cpuid(uc_engine *uc, void *opaque)
{
	struct tcg_cpu *t = opaque;
	CNT_ADD(t->vm->cnt.cpuid, 1);
	return 0;
}

/* TCG raises #UD for VMCALL, as a CPU without VMX would: this backend is the hypervisor the
 * instruction calls. Any other invalid instruction is the guest's #UD. */
static bool on_invalid(uc_engine *uc, void *opaque)
{
	struct tcg_cpu *t = opaque;
	uint64_t rip = reg(uc, UC_X86_REG_RIP);
	uint8_t insn[3] = {0};
	if (rip <= GUEST_MEM_SIZE - 3) /* the guest's RIP is anything: no overflow past memory */
		memcpy(insn, t->vm->mem + rip, 3);
	if (insn[0] == 0x0f && insn[1] == 0x01 && insn[2] == 0xc1) {
		uint64_t ret = (uint64_t)-KVM_ENOSYS;
		rip += 3;
		uc_reg_write(uc, UC_X86_REG_RAX, &ret);
		uc_reg_write(uc, UC_X86_REG_RIP, &rip);
		CNT_ADD(t->vm->cnt.hypercall, 1);
		t->hypercall = true;
		return true;
	}
	t->why_rip = rip;
	snprintf(t->why, sizeof(t->why),
		 "guest took exception #UD at RIP %#llx (the translated CPU stops the guest: it "
		 "delivers no exception through the guest's IDT)",
		 (unsigned long long)rip);
	return false;
}

/* The guest issues no INT n on this CPU: whatever reaches here is an exception. */
static void on_interrupt(uc_engine *uc, uint32_t n, void *opaque)
{
	struct tcg_cpu *t = opaque;
	t->why_rip = reg(uc, UC_X86_REG_RIP);
	snprintf(t->why, sizeof(t->why),
		 "guest took exception %s (vector %u) at RIP %#llx (the translated CPU stops the "
		 "guest: it delivers no exception through the guest's IDT)",
		 vcpu_exception_name(n) ? vcpu_exception_name(n) : "INT", n,
		 (unsigned long long)t->why_rip);
	t->hook_stop = true;
	uc_emu_stop(uc);
}

/* Every block run: count it and its instructions; a block address seen for the first time was
 * just translated. */
static void on_block(uc_engine *uc, uint64_t pc, uint32_t size, void *opaque)
{
	struct tcg_cpu *t = opaque;
	struct vmm_counters *c = &t->vm->cnt;
	/* Stopped here, the block does not run and RIP is its start (measured): the guest's
	 * state is whole, and a run that did end on HLT is told apart from this one. */
	if (t->hook_stop || __atomic_load_n(&t->kick, __ATOMIC_ACQUIRE)) {
		t->stopped = true;
		uc_emu_stop(uc);
		return;
	}
	uint32_t h = (uint32_t)((pc * 0x9e3779b97f4a7c15ull) >> 51) & (TB_SLOTS - 1);
	for (uint32_t probes = 0; probes < TB_SLOTS; probes++, h = (h + 1) & (TB_SLOTS - 1)) {
		struct tb_slot *s = &t->tb[h];
		if (s->pc == pc && s->icount) {
			CNT_ADD(c->tcg_blocks_run, 1);
			CNT_ADD(c->tcg_insns, s->icount);
			return;
		}
		if (!s->icount) {
			uc_tb tb = {0};
			s->pc = pc;
			s->icount = uc_ctl_request_cache(uc, pc, &tb) == UC_ERR_OK && tb.icount
					? tb.icount
					: 1;
			CNT_ADD(c->tcg_blocks_translated, 1);
			CNT_ADD(c->tcg_blocks_run, 1);
			CNT_ADD(c->tcg_insns, s->icount);
			return;
		}
	}
	CNT_ADD(c->tcg_blocks_run, 1); /* the table is full: the block runs uncounted */
}

/* The boot state KVM's path gives the vCPU (kvm_setup_long_mode): long mode, paging on the
 * identity tables, the flat GDT, RIP at the image. */
static int set_boot_state(uc_engine *uc)
{
	uc_x86_mmr gdt = {.base = GPA_GDT, .limit = 5 * 8 - 1};
	uc_x86_mmr idt = {.base = GPA_IDT, .limit = 256 * 16 - 1};
	uc_x86_msr efer = {.rid = MSR_EFER, .value = EFER_LME_LMA};
	uint64_t cr3 = GPA_PML4, cr4 = 0x20, cr0 = 0x80050033, rip = GPA_IMAGE, rsp = GPA_STACK_TOP,
		 rflags = 0x2, cs = 0x08, ds = 0x10;
	const struct {
		int id;
		const void *v;
	} regs[] = {
	    {UC_X86_REG_GDTR, &gdt}, {UC_X86_REG_IDTR, &idt}, {UC_X86_REG_CR3, &cr3},
	    {UC_X86_REG_CR4, &cr4},  {UC_X86_REG_MSR, &efer}, {UC_X86_REG_CR0, &cr0},
	    {UC_X86_REG_CS, &cs},    {UC_X86_REG_DS, &ds},    {UC_X86_REG_ES, &ds},
	    {UC_X86_REG_SS, &ds},    {UC_X86_REG_RSP, &rsp},  {UC_X86_REG_RFLAGS, &rflags},
	    {UC_X86_REG_RIP, &rip},
	};
	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (uc_reg_write(uc, regs[i].id, regs[i].v) != UC_ERR_OK)
			return -EINVAL;
	return 0;
}

/* The host's TSC rate: TCG's RDTSC reads the host's counter (offset, not scaled). */
static uint64_t host_tsc_khz(void)
{
	uint64_t t0 = mono_ns(), c0 = __rdtsc(), t1, c1;
	do {
		t1 = mono_ns();
	} while (t1 - t0 < 5000000ull);
	c1 = __rdtsc();
	return (c1 - c0) * 1000000ull / (t1 - t0);
}

static int add_hooks(struct tcg_cpu *t)
{
	uc_engine *uc = t->uc;
	uc_hook h;
	uc_err e = uc_hook_add(uc, &h, UC_HOOK_INSN, on_in, t, 1, 0, UC_X86_INS_IN);
	if (!e)
		e = uc_hook_add(uc, &h, UC_HOOK_INSN, on_out, t, 1, 0, UC_X86_INS_OUT);
	if (!e)
		e = uc_hook_add(uc, &h, UC_HOOK_INSN, on_cpuid, t, 1, 0, UC_X86_INS_CPUID);
	if (!e)
		e = uc_hook_add(uc, &h, UC_HOOK_INSN_INVALID, on_invalid, t, 1, 0);
	if (!e)
		e = uc_hook_add(uc, &h, UC_HOOK_INTR, on_interrupt, t, 1, 0);
	if (!e)
		e = uc_hook_add(uc, &h, UC_HOOK_BLOCK, on_block, t, 1, 0);
	return e ? -EINVAL : 0;
}

static int by_gpa(const void *a, const void *b)
{
	const struct ram_slot *x = *(const struct ram_slot *const *)a,
			      *y = *(const struct ram_slot *const *)b;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

static int map_piece(struct tcg_cpu *t, uint64_t base, uint64_t size)
{
	for (unsigned i = 0; i < MMIO_PIECES; i++) {
		struct mmio_piece *p = &t->piece[i];
		if (p->size)
			continue;
		*p = (struct mmio_piece){.t = t, .base = base, .size = size};
		if (!uc_mmio_map(t->uc, base, size, on_mmio_read, p, on_mmio_write, p))
			return 0;
		p->size = 0;
		return -EIO;
	}
	return -ENOSPC;
}

/* One chunk of the PCI window anew: its RAM slots where they should be, MMIO around them. */
static int lay_out_chunk(struct tcg_cpu *t, uint64_t lo)
{
	const struct ram_slot *order[ACCEL_RAM_SLOTS];
	unsigned n = 0;
	int r = 0;
	for (unsigned i = 0; i < MMIO_PIECES; i++) {
		struct mmio_piece *p = &t->piece[i];
		if (p->size && p->base >= lo && p->base < lo + CHUNK) {
			if (uc_mem_unmap(t->uc, p->base, p->size))
				r = -EIO;
			p->size = 0;
		}
	}
	for (unsigned i = 0; i < ACCEL_RAM_SLOTS; i++) {
		struct ram_slot *s = &t->ram[i];
		if (s->mapped >= lo && s->mapped < lo + CHUNK) {
			if (uc_mem_unmap(t->uc, s->mapped, s->size))
				r = -EIO;
			s->mapped = 0;
		}
		if (s->gpa >= lo && s->gpa < lo + CHUNK)
			order[n++] = s;
	}
	qsort(order, n, sizeof(order[0]), by_gpa);
	uint64_t at = lo;
	for (unsigned i = 0; i <= n; i++) {
		uint64_t end = i < n ? order[i]->gpa : lo + CHUNK;
		if (end > at && map_piece(t, at, end - at))
			r = -EIO;
		if (i == n)
			break;
		struct ram_slot *s = (struct ram_slot *)order[i];
		if (uc_mem_map_ptr(t->uc, s->gpa, s->size, UC_PROT_READ | UC_PROT_WRITE, s->ptr))
			r = -EIO;
		else
			s->mapped = s->gpa;
		at = s->gpa + s->size;
	}
	return r;
}

/* The window above guest memory: at boot every piece; then the chunks whose slots moved.
 * Between runs only (Unicorn's map may not change under its feet). */
static int lay_out(struct tcg_cpu *t)
{
	int r = 0;
	if (!t->laid) {
		if (map_piece(t, MMIO_FLOOR, WIN_LO - MMIO_FLOOR) ||
		    map_piece(t, WIN_HI, MMIO_TOP - WIN_HI))
			r = -EIO;
		for (uint64_t c = WIN_LO; c < WIN_HI; c += CHUNK)
			if (map_piece(t, c, CHUNK))
				r = -EIO;
		t->laid = true;
	}
	for (unsigned i = 0; i < ACCEL_RAM_SLOTS; i++) {
		struct ram_slot *s = &t->ram[i];
		if (s->mapped == s->gpa)
			continue;
		uint64_t was = s->mapped & ~(CHUNK - 1), now = s->gpa & ~(CHUNK - 1);
		if (s->mapped && lay_out_chunk(t, was))
			r = -EIO;
		if (s->gpa && now != was && lay_out_chunk(t, now))
			r = -EIO;
	}
	t->remap = false;
	return r;
}

static int translated_ioeventfd(void *opaque, enum io_space space, uint64_t addr, uint32_t len,
				int fd, bool assign)
{
	struct tcg_cpu *t = tcg(opaque);
	struct ioevfd *free_one = NULL;
	for (unsigned i = 0; i < IOEVENTFDS; i++) {
		struct ioevfd *e = &t->evfd[i];
		if (e->fd >= 0 && e->space == space && e->addr == addr && e->len == len) {
			if (assign)
				return -EEXIST;
			e->fd = -1;
			return 0;
		}
		if (e->fd < 0 && !free_one)
			free_one = e;
	}
	if (!assign)
		return -ENOENT;
	if (!free_one)
		return -ENOSPC;
	*free_one = (struct ioevfd){.space = space, .addr = addr, .len = len, .fd = fd};
	return 0;
}

/* Where KVM would refuse the slot (overlap, unaligned), so do we; and outside the PCI window or
 * across one of its 1 MiB chunks, where BARs are never put (the BAR then traps, and works). */
static int translated_map_ram(void *opaque, unsigned slot, uint64_t gpa, uint64_t size, void *ptr)
{
	struct vmm *vm = opaque;
	struct tcg_cpu *t = tcg(vm);
	if (slot >= ACCEL_RAM_SLOTS)
		return -EINVAL;
	if (gpa) {
		if ((gpa | size) & 0xfff || !size || gpa < WIN_LO || gpa + size > WIN_HI ||
		    gpa + size < gpa || (gpa & ~(CHUNK - 1)) != ((gpa + size - 1) & ~(CHUNK - 1)))
			return -EINVAL;
		for (unsigned i = 0; i < ACCEL_RAM_SLOTS; i++)
			if (i != slot && t->ram[i].gpa && gpa < t->ram[i].gpa + t->ram[i].size &&
			    t->ram[i].gpa < gpa + size)
				return -EEXIST;
	}
	struct ram_slot *s = &t->ram[slot];
	s->gpa = gpa;
	if (gpa) {
		s->size = size;
		s->ptr = ptr;
	}
	/* In a run (a config write from the guest): it ends after this access; until then
	 * the BAR's accesses trap, and the BAR serves them. */
	t->remap = true;
	t->hook_stop = true;
	return 0;
}

int translated_cpu_create(struct vmm *vm, const char **why)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, load_unicorn);
	if (!U.open) {
		*why = load_why;
		return -ENOENT;
	}
	struct tcg_cpu *t = calloc(1, sizeof(*t));
	if (!t) {
		*why = "out of memory";
		return -ENOMEM;
	}
	t->vm = vm;
	vm->cpu_state = t;
	cpu_backend_use(vm, &translated_cpu);
	*why = "Unicorn could not create the translated CPU";
	if (uc_open(UC_ARCH_X86, UC_MODE_64, &t->uc) != UC_ERR_OK)
		return -ENOMEM;
	uc_ctl_exits_enable(t->uc); /* no stop address: the run ends when a hook or HLT ends it */
	for (unsigned i = 0; i < IOEVENTFDS; i++)
		t->evfd[i].fd = -1;
	*why = "Unicorn refused the guest's memory or its MMIO window";
	if (uc_mem_map_ptr(t->uc, 0, GUEST_MEM_SIZE, UC_PROT_ALL, vm->mem) != UC_ERR_OK ||
	    lay_out(t))
		return -EINVAL;
	*why = "Unicorn refused the translated CPU's hooks";
	if (add_hooks(t))
		return -EINVAL;
	vm->tsc_khz = host_tsc_khz();
	/* The guest's TSC set to the host's now (TCG's RDTSC counts the host's cycles from
	 * there), so the two clocks read alike: the MSR read back before a run says 0. */
	uc_x86_msr tsc = {.rid = 0x10, .value = __rdtsc()};
	vm->tsc_offset = 0;
	vm->tsc_offset_known = uc_reg_write(t->uc, UC_X86_REG_MSR, &tsc) == UC_ERR_OK;
	int r = guest_load(vm->mem, HC_VMCALL, vm->tsc_khz);
	if (r) {
		*why = "the built-in guest image does not fit guest memory";
		return r;
	}
	*why = "Unicorn refused the guest's long-mode register state";
	if (set_boot_state(t->uc))
		return -EINVAL;
	vm->ctl->irq_mode = IRQ_NONE;
	*why = NULL;
	return 0;
}

static void translated_destroy(struct vmm *vm)
{
	struct tcg_cpu *t = tcg(vm);
	if (!t)
		return;
	if (t->uc)
		uc_close(t->uc);
	free(t);
	vm->cpu_state = NULL;
}

static void failed(struct cpu_exit *x, uint64_t rip, const char *why)
{
	x->kind = CX_FAILED;
	x->reason = KVM_EXIT_INTERNAL_ERROR;
	x->rip = rip;
	snprintf(x->why, sizeof(x->why), "%s", why);
}

static int translated_run(struct vmm *vm, struct cpu_exit *x)
{
	struct tcg_cpu *t = tcg(vm);
	for (;;) {
		if (__atomic_exchange_n(&t->kick, false, __ATOMIC_ACQ_REL))
			return 0;
		if (t->remap && lay_out(t))
			CNT_ADD(vm->pci.memslot_errors, 1);
		t->hook_stop = t->hypercall = t->stopped = false;
		uint64_t rip = reg(t->uc, UC_X86_REG_RIP);
		uc_err e = uc_emu_start(t->uc, rip, 0, 0, 0);
		rip = reg(t->uc, UC_X86_REG_RIP);
		if (t->why[0]) {
			failed(x, t->why_rip, t->why);
			t->why[0] = 0;
			return 1;
		}
		if (e != UC_ERR_OK) {
			char why[160];
			snprintf(why, sizeof(why),
				 "the translated CPU stopped the guest: %s at RIP %#llx",
				 uc_strerror(e), (unsigned long long)rip);
			failed(x, rip, why);
			return 1;
		}
		if (t->hypercall)
			continue; /* answered in the hook: the guest goes on */
		if (t->stopped)
			return 0;
		/* Nothing else ends a run: a HLT did (a request that came meanwhile waits for the
		 * next run, as a signal after KVM's HLT exit would). */
		if (rip >= 1 && rip <= GUEST_MEM_SIZE && vm->mem[rip - 1] == 0xf4) {
			x->kind = CX_HLT;
			x->reason = KVM_EXIT_HLT;
			return 1;
		}
		char why[160];
		snprintf(why, sizeof(why),
			 "the translated CPU stopped at RIP %#llx for no reason it gave",
			 (unsigned long long)rip);
		failed(x, rip, why);
		return 1;
	}
}

static void translated_interrupt(struct vmm *vm)
{
	struct tcg_cpu *t = tcg(vm);
	if (!t)
		return;
	__atomic_store_n(&t->kick, true, __ATOMIC_RELEASE); /* on_block stops the run */
	if (vm->thread_started) /* and the VMM's own wait for a halted guest ends */
		pthread_kill(vm->thread, SIGUSR1);
}

static uint64_t translated_rip(struct vmm *vm)
{
	return tcg(vm) ? reg(tcg(vm)->uc, UC_X86_REG_RIP) : 0;
}

const struct cpu_backend translated_cpu = {
    .name = "translated",
    .run_call = "uc_emu_start",
    .run = translated_run,
    .interrupt = translated_interrupt,
    .rip = translated_rip,
    .destroy = translated_destroy,
    .ioeventfd = translated_ioeventfd,
    .map_ram = translated_map_ram,
};
