/* Guest entry (64-bit long mode, set up by the VMM) and the exception stubs of its IDT. */
#define VMSCOPE_GUEST
#define __ASSEMBLY__

	.section .text.start, "ax"
	.code64
	.globl _start
_start:
	/* The very first instruction reports itself, so the VMM can time boot to here. */
	movl	$1, %eax		/* GEV_FIRST_INSN */
	movw	$0x518, %dx		/* PORT_GUEST_EVENT */
	outl	%eax, %dx
	movq	$0x90000, %rsp		/* GPA_STACK_TOP */
	xorl	%ebp, %ebp
	call	guest_main
1:	pause
	jmp	1b

/* Vectors with a CPU-pushed error code: 8, 10-14, 17, 21, 29, 30. */
.macro	stub vec
	.align	16
exc_stub_\vec:
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$\vec
	jmp	exc_common
.endm

	.text
	.irp	v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	stub	\v
	.endr

exc_common:
	/* Stack: vector, error code, RIP, CS, RFLAGS, RSP, SS. */
	movq	%rsp, %rdi
	andq	$-16, %rsp
	call	guest_exception
2:	pause
	jmp	2b

/* Interrupts: VEC_FIRST (0x20) .. 0x3f. The handler saves what the C ABI lets a callee clobber;
 * the frame may not be 16-byte aligned (kvm_pvm builds it), so the stack is realigned. */
.macro	irqstub vec
	.align	16
irq_stub_\vec:
	pushq	$\vec
	jmp	irq_common
.endm

	.irp	v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63
	irqstub	\v
	.endr

irq_common:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%rbx
	movq	80(%rsp), %rdi		/* the vector */
	leaq	88(%rsp), %rsi		/* the CPU's frame: RIP, CS, RFLAGS, RSP, SS */
	movq	%rsp, %rbx
	andq	$-16, %rsp
	call	guest_irq
	movq	%rbx, %rsp
	popq	%rbx
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	addq	$8, %rsp
	iretq

/* The safe halts: void safe_halt_*(u64 *count). Each counts the halt in *count when KVM does,
 * so the guest's count and KVM's halt_exits agree even when the VMM stops the vCPU mid-halt.
 *
 * kvm_pvm: its HALT hypercall wakes on an interrupt only while VIF byte 0 is set (measured:
 * with it clear, an interrupt that arrives during the halt never ends it). So the flag is opened
 * first, and an interrupt taken between opening it and the hypercall would be lost to the halt:
 * guest_irq() moves such an interrupt's return address to pvm_halt_end, which skips the halt.
 * kvm_pvm delivers only on an exit, so the window is two instructions. An interrupt already
 * pending ends the hypercall at once. kvm_pvm counts halt_exits when the halt ends (measured:
 * a vCPU stopped mid-halt shows one halt fewer than it started), so the count comes after. */
	.globl	safe_halt_pvm, pvm_halt_window, pvm_halt_done, pvm_halt_end
safe_halt_pvm:
	movb	$1, 0x9000		/* GPA_VIF byte 0: interrupts on */
pvm_halt_window:
	movl	$0x1009, %eax		/* PVM_HC_HALT */
	int	$0x1b
pvm_halt_done:
	incq	(%rdi)
pvm_halt_end:
	movb	$0, 0x9000
	ret

/* Hardware KVM: `sti; hlt` holds delivery off until HLT, so the halt cannot miss a wake-up.
 * KVM counts halt_exits when the HLT exits, before it waits: so the count comes first. */
	.globl	safe_halt_sti
safe_halt_sti:
	incq	(%rdi)
	sti
	hlt
	cli
	ret

/* void task_switch(u64 *save_sp, u64 next_sp) (task.c): saves the registers a callee must keep
 * (SysV ABI; the caller saved the rest) and the stack pointer in *save_sp, and carries on in the
 * context whose stack pointer is next_sp, returning from its own task_switch call. Interrupts
 * are off in both contexts (task.h). */
	.globl	task_switch, task_entry
task_switch:
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, (%rdi)
	movq	%rsi, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret

/* A new task's first return lands here (task_start built its stack). */
task_entry:
	andq	$-16, %rsp
	call	task_body
	ud2

	/* The LAPIC's spurious vector: no EOI (SDM Vol. 3A 11.9). */
	.globl	irq_spurious
	.align	16
irq_spurious:
	iretq

	.section .rodata
	.globl	irq_stubs
	.align	8
irq_stubs:
	.irp	v, 32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63
	.quad	irq_stub_\v
	.endr

	.globl	exc_stubs
	.align	8
exc_stubs:
	.irp	v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad	exc_stub_\v
	.endr

	.section .note.GNU-stack, "", @progbits
