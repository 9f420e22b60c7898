/* The plain work the guest and the host both time: a fixed loop of ordinary register
 * instructions (no memory, no privileged or trapping instruction), so that its cost per
 * instruction is what a CPU mode charges for ordinary guest code. The guest runs it every
 * WORK_PERIOD_MS between its operations (ctl->work); the session runs it on the host. */
#ifndef VMSCOPE_WORK_LOOP_H
#define VMSCOPE_WORK_LOOP_H

#define WORK_LOOP_ITERS 256
#define WORK_LOOP_INSNS (WORK_LOOP_ITERS * 4 + 1) /* mov, then add/xor/dec/jnz per iteration */
#define WORK_PERIOD_MS	20

static inline void work_loop(void)
{
	unsigned long a = 1, d = 2;
	__asm__ volatile("mov %[n], %%ecx\n\t"
			 "1: add %[a], %[d]\n\t"
			 "xor %[d], %[a]\n\t"
			 "dec %%ecx\n\t"
			 "jnz 1b"
			 : [a] "+r"(a), [d] "+r"(d)
			 : [n] "i"(WORK_LOOP_ITERS)
			 : "rcx", "cc");
}

#endif
