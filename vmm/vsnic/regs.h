/* The vmscope SR-IOV NIC as its drivers see it: one layout, used by the VMM's model and by the
 * guest's drivers. It is our own design (README, "The SR-IOV NIC"): the VFs of real cards (the
 * 82576's, ENA's) need a PF mailbox or an admin queue; this one needs neither.
 *
 * PF (vendor VSNIC_VENDOR, device VSNIC_PF_DEVICE): the control plane. BAR0 (trapping, 16 KiB):
 * registers below, MSI-X table at 0x2000 and PBA at 0x3000 (one vector: link changes). An SR-IOV
 * capability with TotalVFs VSNIC_TOTAL_VFS, First VF Offset 1, VF Stride 1.
 *
 * VF (VF Device ID VSNIC_VF_DEVICE), two BARs:
 * - BAR0, the doorbell page (4 KiB of RAM, mapped into the guest as a KVM memory slot: a
 *   doorbell write never exits). The guest writes the tails (free-running 32-bit counts of
 *   descriptors it posted) and IRQ_ARM; the card writes the heads (counts it completed).
 * - BAR2 (trapping, 16 KiB): ring setup, status and the MAC the PF gave, then the MSI-X table at
 *   0x1000 and the PBA at 0x1800 (one vector: completions while IRQ_ARM was set).
 * Descriptors (16 bytes, both rings): u64 buffer address, u16 length, u16 flags, u32 0. tx: the
 * guest sets address and length; rx: address and the buffer's size, the card writes back the
 * frame's length. The card sets DONE (and ERR when it refused the descriptor). */
#ifndef VMSCOPE_SRIOV_REGS_H
#define VMSCOPE_SRIOV_REGS_H

#define VSNIC_VENDOR	0x7673 /* "vs": not a PCI-SIG assignment, so no real driver binds it */
#define VSNIC_PF_DEVICE 0x5046
#define VSNIC_VF_DEVICE 0x5646
#define VSNIC_TOTAL_VFS 4
#define VSNIC_VF_OFFSET 1
#define VSNIC_VF_STRIDE 1

/* PF BAR0 */
#define VSNIC_PF_BAR_SIZE     0x4000
#define VSNIC_PF_ID	      0x000		/* RO: 'VSPF' */
#define VSNIC_PF_LINK	      0x004		/* RO: bit 0 link up */
#define VSNIC_PF_VF_MAC_LO(n) (0x100 + 8 * (n)) /* RW: MAC bytes 0-3 of VF n */
#define VSNIC_PF_VF_MAC_HI(n) (0x104 + 8 * (n)) /* RW: bytes 4-5 */
#define VSNIC_PF_VF_STATS(n)                                                                       \
	(0x200 + 16 * (n)) /* RO: tx packets, rx packets, rx no buffer,                            \
			    * ring errors of VF n (low 32 bits) */
#define VSNIC_PF_MSIX_TABLE 0x2000
#define VSNIC_PF_MSIX_PBA   0x3000
#define VSNIC_PF_ID_VALUE   0x46505356u

/* VF BAR0: the doorbell page */
#define VSNIC_DB_SIZE	 0x1000
#define VSNIC_DB_TX_TAIL 0x00
#define VSNIC_DB_RX_TAIL 0x04
#define VSNIC_DB_TX_HEAD 0x08
#define VSNIC_DB_RX_HEAD 0x0c
#define VSNIC_DB_IRQ_ARM 0x10 /* guest: 1 = interrupt me at the next completion (card clears) */
/* card: 1 while its engine sleeps. A driver that posts tx descriptors then reads it (after a
 * full fence: the card stores it, fences, then reads TX_TAIL) and, when 1, writes VSNIC_VF_WAKE.
 * Our card's silicon is a host thread: it sleeps rather than cost a core, and that write is the
 * one access of the data path that exits (an ioeventfd KVM completes itself), counted as the
 * card's wake-ups. While it is awake nothing exits. */
#define VSNIC_DB_ENGINE_IDLE 0x14
/* guest: tx completions raise the armed interrupt only once TX_HEAD has reached this count
 * (free-running, compared as a signed difference), as virtio's used_event: a driver waiting for
 * room asks to be woken when half its ring is free, not at the card's first completion. 0 at
 * enable: every completion, as before. rx completions do not look at it. */
#define VSNIC_DB_TX_IRQ_AT 0x18

/* VF BAR2 */
#define VSNIC_VF_BAR2	       2
#define VSNIC_VF_BAR2_SIZE     0x4000
#define VSNIC_VF_CTRL	       0x00 /* bit 0 ENABLE: setup is latched on 0 -> 1, heads restart at 0 */
#define VSNIC_VF_STATUS	       0x04 /* RO: READY, LINK_UP, SETUP_BAD */
#define VSNIC_VF_MAC_LO	       0x08 /* RO: the MAC the PF gave this VF */
#define VSNIC_VF_MAC_HI	       0x0c
#define VSNIC_VF_TX_BASE_LO    0x10
#define VSNIC_VF_TX_BASE_HI    0x14
#define VSNIC_VF_TX_SIZE       0x18 /* descriptors, a power of two, 8 to 4096 */
#define VSNIC_VF_RX_BASE_LO    0x20
#define VSNIC_VF_RX_BASE_HI    0x24
#define VSNIC_VF_RX_SIZE       0x28
#define VSNIC_VF_WAKE	       0x2c /* WO: any write wakes the card's engine (see ENGINE_IDLE) */
#define VSNIC_VF_REGS_END      0x30
#define VSNIC_VF_MSIX_TABLE    0x1000
#define VSNIC_VF_MSIX_PBA      0x1800
#define VSNIC_CTRL_ENABLE      1u
#define VSNIC_STATUS_READY     1u
#define VSNIC_STATUS_LINK_UP   2u
#define VSNIC_STATUS_SETUP_BAD 4u
#define VSNIC_RING_MIN	       8
#define VSNIC_RING_MAX	       4096

#define VSNIC_DESC_SIZE 16
#define VSNIC_DESC_DONE 1u
#define VSNIC_DESC_ERR	2u

#endif
