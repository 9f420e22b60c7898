/* The CPU backend seam: what runs the guest's instructions (KVM's vCPU today; a translated CPU
 * can stand beside it) and the one description of an exit that every backend fills for vcpu.c's
 * one dispatch. The devices, the bus, the control page and the switch sit under the dispatch and
 * do not know which backend ran the guest. */
#ifndef VMSCOPE_VMM_CPU_H
#define VMSCOPE_VMM_CPU_H
#include <stdbool.h>
#include <stdint.h>

#include "vmm/iobus.h"

struct vmm;

enum cpu_exit_kind {
	CX_IO,	   /* port or MMIO accesses the VMM serves: count accesses of size bytes at data */
	CX_HLT,	   /* the guest halted and its CPU gave the halt to the VMM */
	CX_FAILED, /* the guest cannot go on: why says what happened, rip where */
};

struct cpu_exit {
	enum cpu_exit_kind kind;
	unsigned reason; /* the backend's own reason (KVM_EXIT_*), counted by number */
	enum io_space space;
	uint64_t addr;
	uint8_t *data;
	uint32_t size, count;
	bool write;
	uint64_t rip;
	char why[160];
};

struct cpu_backend {
	const char *name;
	const char *run_call; /* what run() calls, for a failure's message ("KVM_RUN") */
	/* Runs the guest until it needs the VMM: 1 with *exit filled; 0 when interrupt() (or a
	 * signal) ended the run first; -errno when the backend itself failed. */
	int (*run)(struct vmm *vm, struct cpu_exit *exit);
	/* From another thread: the current or next run() returns soon. */
	void (*interrupt)(struct vmm *vm);
	/* The guest's instruction pointer now (0 when it cannot be read). */
	uint64_t (*rip)(struct vmm *vm);
	/* Once the vCPU thread runs: starts what the backend keeps beside it; NULL: nothing. */
	void (*start)(struct vmm *vm);
	/* Frees the backend's own state (vm->cpu_state); NULL when it keeps none. */
	void (*destroy)(struct vmm *vm);
	/* What the devices ask of it (vmm/accel.h), with the VM as opaque. */
	int (*ioeventfd)(void *vm, enum io_space space, uint64_t addr, uint32_t len, int fd,
			 bool assign);
	int (*map_ram)(void *vm, unsigned slot, uint64_t gpa, uint64_t size, void *ptr);
	int (*coalesce)(void *vm, enum io_space space, uint64_t addr, uint32_t len);
	/* From any thread: hands the devices what the backend queued (coalesced writes); NULL
	 * when it queues nothing. */
	void (*poll)(struct vmm *vm);
};

/* Makes be run vm's guest and serve its devices' ioeventfds and RAM slots. */
void cpu_backend_use(struct vmm *vm, const struct cpu_backend *be);

extern const struct cpu_backend kvm_cpu;	/* vmm/cpu_kvm.c */
extern const struct cpu_backend translated_cpu; /* vmm/cpu_translated.c */

/* The translated CPU over vm->mem: loads the guest, sets its boot registers and makes itself
 * vm's backend. -errno with *why. */
int translated_cpu_create(struct vmm *vm, const char **why);

#endif
