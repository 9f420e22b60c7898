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

	.section .rodata
	.globl	exc_stubs
	.align	8
exc_stubs:
	.irp	v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad	exc_stub_\v
	.endr

	.section .note.GNU-stack, "", @progbits
