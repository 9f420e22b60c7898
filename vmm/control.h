/* The control page: the ABI shared by the VMM and the built-in guest (both include this file). */
#ifndef VMSCOPE_CONTROL_H
#define VMSCOPE_CONTROL_H

#ifdef VMSCOPE_GUEST
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
#else
#include <stdint.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
#endif

/* Guest-physical memory map (identity mapped, 2 MiB pages, PML4 slot 0 only). */
#define GPA_GDT		0x1000ull
#define GPA_IDT		0x2000ull
#define GPA_PML4	0x3000ull /* PML4, PDPT, then 4 page directories: 0-4 GiB */
#define GPA_VIF		0x9000ull /* kvm_pvm virtual interrupt flag page */
#define GPA_CTL		0xa000ull /* struct ctl_page */
#define GPA_DMA_FLOOR	0xb000ull /* no device DMA below: the pages above are the VMM's */
#define GPA_STACK_TOP	0x90000ull
#define GPA_IMAGE	0x100000ull
#define GPA_NIC		0x200000ull /* 2 MiB for NIC rings and buffers, up to GUEST_MEM_SIZE */
#define GUEST_MEM_SIZE	(8ull << 20)
#define GUEST_IMAGE_MAX (GPA_NIC - GPA_IMAGE)

/* Addresses the `exits` workload touches. */
#define PORT_SERIAL	  0x3f8
#define PORT_EXIT_VMM	  0x510 /* handled by the VMM in userspace */
#define PORT_EXIT_EVENTFD 0x514 /* an ioeventfd: completes inside KVM */
#define PORT_GUEST_EVENT  0x518 /* guest -> VMM: enum guest_event */
#define PORT_CONSOLE	  0x51c /* guest -> VMM: a console line of this length in ctl->con_line */
#define MMIO_EXIT_VMM	  0xd0000000ull
#define MMIO_EXIT_EVENTFD 0xd0001000ull
#define GPA_PCI_ECAM	  0xe0000000ull /* bus 0; see vmm/pci.h */
#define GPA_LAPIC	  0xfee00000ull /* KVM's in-kernel local APIC (xAPIC MMIO) */

/* Interrupts. In the hardware and paravirt modes the VMM gives the VM KVM's in-kernel LAPIC:
 * the guest sleeps in HLT with its LAPIC timer armed, and MSI-X messages (irqfd) wake it. In
 * emulated mode there is no irqchip (kvm_pvm delivers nothing without the VIF page): HLT exits
 * to the VMM and the NIC is polled. */
enum irq_mode {
	IRQ_NONE, /* no LAPIC: HLT exits to the VMM, which sleeps for the guest */
	IRQ_STI,  /* hardware KVM: sti; hlt */
	IRQ_VIF,  /* kvm_pvm: the VIF page's flag and the HALT hypercall */
};
#define VEC_FIRST    0x20 /* the guest has handlers for VEC_FIRST .. VEC_FIRST + IRQ_VECTORS - 1 */
#define VEC_TIMER    0x20 /* LAPIC timer: a wait's deadline */
#define VEC_COMMAND  0x21 /* the VMM wrote a command (an MSI through irqfd) */
#define VEC_SELF     0x22 /* the hlt exit kind's self-IPI */
#define VEC_NET	     0x30 /* + MSI-X table entry: 0 config, 1 rx, 2 tx */
#define VEC_INTX     0x34 /* the e1000's INTx line, through the IOAPIC (level triggered) */
#define VEC_HOTPLUG  0x35 /* the root ports' hot-plug MSI (every port the same vector) */
#define VEC_SPURIOUS 0xff
#define IRQ_VECTORS  32

enum guest_event {
	GEV_FIRST_INSN = 1, /* the first instruction of the image */
	GEV_READY,	    /* banner printed, main loop entered */
	GEV_EXCEPTION,	    /* ctl->exc_* describe it; the guest then stops */
	GEV_ASSERT,	    /* ctl->assert_line; the guest then stops */
	/* The live switch (make before break): the guest brought up the card that was hot-added
	 * behind a root port (ctl->hp_bound_bdf, the function in the slot; ctl->hp_probe_cycles);
	 * then it moved its traffic there and let go of the old card (ctl->hp_released_bdf), which
	 * the VMM may now remove. */
	GEV_NIC_BOUND,
	GEV_NIC_MOVED,
};

enum exit_kind {
	EK_PIO_VMM,
	EK_PIO_EVENTFD,
	EK_MMIO_VMM,
	EK_MMIO_EVENTFD,
	EK_HYPERCALL,
	EK_CPUID,
	EK_HLT,
	EK_MAX,
	EK_ALL = EK_MAX, /* round robin over every kind */
};

enum workload {
	WL_IDLE,
	WL_EXITS,
	WL_FAULT, /* test workload: ctl->fault_kind */
	WL_PING,  /* ICMP echo to the peer, rate or closed loop; RTT from the TSC */
	WL_TX,	  /* UDP to the peer's sink, rate or as fast as possible */
	WL_RX,	  /* the peer floods the guest's port 9; the guest counts and checks sequence */
	WL_ECHO,  /* the peer sends to the guest's port 7; the guest sends each datagram back */
	WL_BOTH,  /* tx and rx at once: the guest sends to the sink while the peer floods it */
	WL_MAX,
};

/* The guest's network card: one entry each in the VMM's model table (vmm/nic.c) and in the
 * guest's driver table. nic_mode_name() (vmm/nic.h) has their names. */
enum nic_mode {
	NIC_MODE_NONE,
	NIC_MODE_EMULATED, /* Intel 82540EM (e1000): every register access traps to the VMM */
	NIC_MODE_VIRTIO,   /* virtio-net 1.x: ioeventfd kicks, irqfd interrupts */
	NIC_MODE_VF,	   /* an SR-IOV virtual function: the hypervisor leaves the data path */
	NIC_MODE_MAX,
};

enum nic_state {
	NIC_NONE,   /* no NIC found on the bus */
	NIC_UP,	    /* driver initialised, link up */
	NIC_FAILED, /* the device refused our features or queues */
};

enum fault_kind {
	FAULT_UD,      /* #UD: reported through the guest's IDT */
	FAULT_TRIPLE,  /* an exception with no usable IDT: shutdown */
	FAULT_HANG,    /* spins forever without heartbeat */
	FAULT_WILD,    /* jumps into a hole of the address space (no RAM, no device) */
	FAULT_GARBAGE, /* runs a page of pseudo-random bytes (seeded by ctl->rate) as code */
};

enum hypercall_insn {
	HC_NONE,
	HC_INT1B,   /* kvm_pvm: int $0x1b */
	HC_VMCALL,  /* Intel VT-x */
	HC_VMMCALL, /* AMD-V */
};

#define CTL_MAGIC    0x706f6373u /* "scop" */
#define CTL_VERSION  12
#define CON_LINE_MAX 120 /* a console line's bytes at most (a longer one comes in pieces) */
#define HIST_SLOTS   32	 /* log2 buckets of TSC cycles */
/* The guest's ping: ICMP echo with this id, its TSC at the start of the send in the payload's
 * first 8 bytes (little endian), which the reply carries back. The VMM's link times it there. */
#define PING_ICMP_ID 0x5653

/* The ping's round trips, finer than log2 (VM1's p99 under load against alone is a ratio near 1,
 * where a log2 slot is a factor of 2): RTT_SUB slots an octave, from 2^RTT_LO TSC cycles (less
 * goes in the first) over RTT_OCTAVES octaves (more goes in the last). At 2-4 GHz: 0.25-0.5 us to
 * 1-2 s, a slot 19% wide. */
#define RTT_SUB_BITS 2
#define RTT_SUB	     (1u << RTT_SUB_BITS)
#define RTT_LO	     10
#define RTT_OCTAVES  22
#define RTT_SLOTS    (RTT_SUB * RTT_OCTAVES)

static inline unsigned rtt_slot(u64 cycles)
{
	if (cycles < (1ull << RTT_LO))
		return 0;
	unsigned o = 63u - (unsigned)__builtin_clzll(cycles);
	if (o >= RTT_LO + RTT_OCTAVES)
		return RTT_SLOTS - 1;
	unsigned sub = (unsigned)(cycles >> (o - RTT_SUB_BITS)) & (RTT_SUB - 1);
	return (o - RTT_LO) * RTT_SUB + sub;
}

/* Where slot s begins, in cycles (slot RTT_SLOTS: where the last one ends). */
static inline u64 rtt_slot_low(unsigned s)
{
	unsigned o = RTT_LO + s / RTT_SUB;
	return (1ull << o) + (u64)(s % RTT_SUB) * (1ull << (o - RTT_SUB_BITS));
}

struct kind_stats {
	u64 ops;    /* round trips completed */
	u64 cycles; /* sum of TSC cycles */
	u64 min_cycles;
	u64 max_cycles;
	u64 hist[HIST_SLOTS];
};

/* A neighbour's (--vms) packets a second unless told: on two cores, a load where VM1's tail
 * measures the I/O path, not a wait for a CPU (docs/benchmarks.md). */
#define NEIGHBOUR_RATE_DEFAULT 5000

struct ctl_page {
	u32 magic;
	u32 version;
	/* VMM -> guest; the VMM writes the fields, then bumps cmd_seq. */
	u32 cmd_seq;
	u32 workload;
	u32 exit_kind;
	u32 fault_kind;
	u32 rate;	    /* operations per second; 0 = as fast as possible */
	u32 hypercall_insn; /* enum hypercall_insn */
	u64 tsc_khz;
	u32 irq_mode; /* enum irq_mode */
	u32 pad0;
	/* guest -> VMM */
	u32 ack_seq;
	u32 halt_is_idle;      /* 1: the next HLT waits; 0: the HLT is a measured op */
	u64 halt_ns;	       /* how long an idle HLT may sleep */
	u64 heartbeat;	       /* bumped every main-loop pass */
	u64 idle_halts;	       /* halts the guest waited in (not the hlt exit kind's) */
	u64 irqs[IRQ_VECTORS]; /* interrupts taken, by vector - VEC_FIRST */
	u64 tsc_ready;
	u32 exc_vector;
	u32 assert_line;
	u64 exc_error;
	u64 exc_rip;
	u64 exc_cr2;
	u64 hypercall_ret; /* last value a hypercall returned */
	struct kind_stats kind[EK_MAX];
	/* network (VMM -> guest) */
	u32 pkt_size; /* UDP payload bytes for tx */
	u32 peer_ip;  /* host byte order */
	u32 guest_ip;
	/* Paced tx: datagrams sent back to back each period (rate / burst periods a second; 0 and
	 * 1: one). Bursts let a paced guest halt between them instead of spinning through gaps
	 * shorter than a halt. */
	u32 burst;
	/* network (guest -> VMM) */
	u32 nic_state; /* enum nic_state */
	u8 mac[8];
	u64 net_tx_packets, net_rx_packets, net_tx_full, net_rx_bad;
	u64 ping_sent, ping_lost;
	struct kind_stats ping;	       /* RTT in TSC cycles */
	u64 ping_send_cycles;	       /* of those, building each and handing it to the card */
	u64 arp_replies, icmp_replies; /* what the guest answered (the peer's ping) */
	u64 udp_echoed;		       /* datagrams to port 7 sent back (any workload) */
	u64 rx_sink, rx_seq_lost, rx_seq_reordered; /* datagrams to port 9 and their sequence */
	u64 tx_sink; /* datagrams it sent to the peer's sink (tx, both), of net_tx_packets */
	/* hot-plug (guest -> VMM) */
	u32 hp_bound_bdf, hp_released_bdf; /* see GEV_NIC_BOUND, GEV_NIC_MOVED */
	u64 hp_probe_cycles; /* the slot's event seen -> the new card's driver up (TSC) */
	/* guest -> VMM: the plain work loop of vmm/work_loop.h, timed every WORK_PERIOD_MS */
	struct kind_stats work;
	/* A live switch's window, VMM -> guest, on the clock of the peer's timestamps
	 * (CLOCK_MONOTONIC ns): start, then end (0 while the switch is under way). */
	u64 loss_win_start, loss_win_end;
	/* guest -> VMM: of the peer's flood datagrams lost (rx_seq_lost), those sent in a switch's
	 * window: each gap's share that overlaps it, by the send times of the datagrams around it.
	 */
	u64 rx_win_lost;
	/* KVM's paravirtual interfaces on hardware KVM (vmm/guest/kvm_pv.c). VMM -> guest: use
	 * them if KVM offers them (the paravirt mode). Guest -> VMM: what CPUID 0x40000001 said,
	 * what it uses (PV_*), EOIs written to the LAPIC and EOIs PV EOI spared, kvmclock's time
	 * and the steal time as last read. */
	u32 pv_wanted;
	u32 kvm_features;
	u32 pv_used;
	u32 pad1;
	u64 eoi_lapic, eoi_pv;
	u64 kvmclock_ns, steal_ns;
	u64 ping_rtt[RTT_SLOTS]; /* guest -> VMM: ping's round trips by rtt_slot */
	/* guest -> VMM: the console a line at a time (a paravirtual console: one exit a line,
	 * where the 16550's data port takes one a byte): the line's bytes, then its length
	 * written to PORT_CONSOLE. */
	u8 con_line[CON_LINE_MAX];
};
_Static_assert(sizeof(struct ctl_page) <= GPA_DMA_FLOOR - GPA_CTL,
	       "the control page fits its page");

enum pv_feature { PV_EOI = 1, PV_CLOCK = 2, PV_STEAL = 4, PV_YIELD = 8 };

#endif
