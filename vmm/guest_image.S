/* Embeds the built-in guest image (build/guest.bin, made by the Makefile) in the vmscope binary. */
	.section .rodata
	.balign	4096
	.globl	guest_image_start
	.globl	guest_image_end
guest_image_start:
	.incbin	GUEST_BIN
guest_image_end:
	.section .note.GNU-stack, "", @progbits
